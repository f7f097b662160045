"""Serve the Hugging Face transformers training service: `python -m trainyard_huggingface`."""

from trainyard_huggingface.plugin import PLUGIN
from trainyard_servicekit.main import serve

serve(PLUGIN)
