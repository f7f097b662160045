"""Serve the gateway in production: gunicorn with uvicorn workers.

`python -m trainyard_gateway.serve` (the gateway image's command). Workers come from
GATEWAY_WORKERS or WEB_CONCURRENCY; each runs its own dispatcher, which is safe because a job is
claimed with one conditional UPDATE. `python -m trainyard_gateway` stays the one-process server.

Counters and histograms live in each worker's memory, and a scrape reaches one worker. So the
workers run prometheus_client's multiprocess mode: each writes its values to files in one
folder (PROMETHEUS_MULTIPROC_DIR), and `/metrics` adds up every worker's files.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from gunicorn.app.base import BaseApplication

# Nothing imported here may import prometheus_client (trainyard_gateway.app does, through
# trainyard_gateway.metrics): see prepare_metrics_dir.
from trainyard_gateway.db import Database, migrate
from trainyard_gateway.production import exit_if_unsafe
from trainyard_gateway.settings import GatewaySettings

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def bind_address(host: str, port: int) -> str:
    # An IPv6 host (Railway's private network wants "::") needs brackets in gunicorn's bind.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def prepare_metrics_dir() -> tuple[Path, bool]:
    """An empty folder for the workers' metric files, put in PROMETHEUS_MULTIPROC_DIR; and
    whether it is this server's own, to remove on exit.

    The operator's PROMETHEUS_MULTIPROC_DIR if set, emptied of metric files; otherwise a new
    temporary folder. Must run before the first import of prometheus_client in this process.
    """
    if "prometheus_client" in sys.modules:
        # prometheus_client chooses in-memory or file-backed values once, at its first import
        # (prometheus_client.values.ValueClass); the forked workers inherit that choice.
        raise RuntimeError(f"prometheus_client was imported before {MULTIPROC_DIR} was set")
    configured = os.environ.get(MULTIPROC_DIR)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        # Files of an earlier run's workers would be added to this run's counts.
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="trainyard-gateway-metrics-"))
    os.environ[MULTIPROC_DIR] = str(path)  # inherited by the workers gunicorn forks
    return path, not configured


def worker_exited(server: Arbiter, worker: Worker) -> None:
    """gunicorn's child_exit hook, in the master: drop the dead worker's live gauges.

    Its counters and histograms stay in the folder, so totals never go back.
    """
    from prometheus_client import multiprocess  # after prepare_metrics_dir set the folder

    multiprocess.mark_process_dead(worker.pid)


class GatewayServer(BaseApplication):
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.metrics_dir, self.own_metrics_dir = prepare_metrics_dir()
        super().__init__()

    def remove_metrics_dir(self, server: Arbiter) -> None:
        # gunicorn's on_exit hook: a temporary folder goes with the master; the operator's stays.
        if self.own_metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

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
            "child_exit": worker_exited,
            "on_exit": self.remove_metrics_dir,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> FastAPI:
        # Runs in each worker after the fork: every worker has its own engine and dispatcher.
        # Imported here, not at the top: the app imports prometheus_client, which must first
        # see PROMETHEUS_MULTIPROC_DIR (prepare_metrics_dir, in the master before the fork).
        from trainyard_gateway.app import create_app

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
