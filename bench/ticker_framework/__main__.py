from bench.ticker_framework.plugin import PLUGIN
from trainyard_shared.service.main import serve

serve(PLUGIN)
