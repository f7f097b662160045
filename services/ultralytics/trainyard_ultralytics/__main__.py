"""Run the ultralytics training service: `python -m trainyard_ultralytics`."""

from trainyard_servicekit.main import serve
from trainyard_ultralytics.plugin import PLUGIN

serve(PLUGIN)
