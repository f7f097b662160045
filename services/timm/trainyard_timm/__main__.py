"""Serve the timm training service: `python -m trainyard_timm`."""

from trainyard_shared.service.main import serve
from trainyard_timm.plugin import PLUGIN

serve(PLUGIN)
