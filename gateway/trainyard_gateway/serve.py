"""Serve the gateway in production: gunicorn with uvicorn workers.

`python -m trainyard_gateway.serve` (the gateway image's command). Workers come from
GATEWAY_WORKERS or WEB_CONCURRENCY; each runs its own dispatcher, which is safe because a job is
claimed with one conditional UPDATE. `python -m trainyard_gateway` stays the one-process server.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from gunicorn.app.base import BaseApplication

from trainyard_gateway.app import create_app
from trainyard_gateway.db import Database, migrate
from trainyard_gateway.production import exit_if_unsafe
from trainyard_gateway.settings import GatewaySettings


def bind_address(host: str, port: int) -> str:
    # An IPv6 host (Railway's private network wants "::") needs brackets in gunicorn's bind.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GatewayServer(BaseApplication):
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": [bind_address(self.settings.host, self.settings.port)],
            "workers": self.settings.workers,
            "worker_class": "uvicorn_worker.UvicornWorker",
            # Log streams (SSE) stay open; a worker that is busy is not stuck.
            "timeout": 120,
            "graceful_timeout": 30,
            "accesslog": "-",
            "errorlog": "-",
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> FastAPI:
        # Runs in each worker after the fork: every worker has its own engine and dispatcher.
        return create_app(self.settings)


def main() -> None:
    settings = GatewaySettings()
    exit_if_unsafe(settings)
    # Migrate once in the master so that workers starting together do not race on an empty
    # database; their own migrate at start-up then finds the schema at head.
    db = Database(settings.resolved_database_url())
    try:
        migrate(db.engine)
    finally:
        db.engine.dispose()
    GatewayServer(settings).run()


if __name__ == "__main__":
    main()
