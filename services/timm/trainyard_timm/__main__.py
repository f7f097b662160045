"""Serve the timm training service: `python -m trainyard_timm`."""

from trainyard_servicekit.main import serve
from trainyard_timm.plugin import PLUGIN

serve(PLUGIN)
