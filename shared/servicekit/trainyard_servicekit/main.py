"""Serve a framework's training service: `python -m trainyard_<framework>`."""

from __future__ import annotations

import os

import uvicorn

from trainyard_servicekit.app import create_service_app
from trainyard_servicekit.executors.cpu_threads import thread_defaults
from trainyard_servicekit.plugin import FrameworkPlugin
from trainyard_servicekit.settings import ServiceSettings


def serve(plugin: FrameworkPlugin) -> None:
    # The service's own predictions run beside its runs on the same cores: their threads spin
    # as briefly (set before anything here imports torch, which reads it once).
    os.environ.update(thread_defaults(os.environ))
    settings = ServiceSettings()
    app = create_service_app(plugin, settings)
    # One worker: runs are tracked in this process. log_config=None: uvicorn's lines go through
    # the service's own logging setup (trainyard_runtime.logs).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port or plugin.default_port,
        workers=1,
        log_config=None,
    )
