from toy_framework.plugin import PLUGIN
from trainyard_servicekit.main import serve

serve(PLUGIN)
