from toy_framework.plugin import plugin_from_environment
from trainyard_servicekit.main import serve

serve(plugin_from_environment())
