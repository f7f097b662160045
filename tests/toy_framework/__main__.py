from trainyard_shared.service.main import serve

from toy_framework.plugin import PLUGIN

serve(PLUGIN)
