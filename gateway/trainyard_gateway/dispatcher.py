"""The dispatcher: the background loop that drives the scheduler and the run monitor.

It runs in a background thread of each gateway process. Each round (`tick`) starts what the
services have room for, then follows the active runs; a round begins every
`dispatch_interval`, or at once when something frees a slot or queues a job (`wake`).
"""

from __future__ import annotations

import logging
import threading
import time

from trainyard_gateway.db import Database
from trainyard_gateway.run_monitor import RunMonitor
from trainyard_gateway.scheduler import Scheduler
from trainyard_gateway.services import ServiceRegistry
from trainyard_gateway.settings import GatewaySettings

log = logging.getLogger("trainyard.dispatcher")


class Dispatcher:
    def __init__(self, db: Database, registry: ServiceRegistry, settings: GatewaySettings):
        self.registry = registry
        self.settings = settings
        self.scheduler = Scheduler(db, registry, settings)
        self.monitor = RunMonitor(db, registry, settings)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trainyard-dispatcher", daemon=True)
        self._last_poll = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep dispatching whatever one round hit; it is logged
                log.exception("dispatcher round failed")
            self._wake.wait(self.settings.dispatch_interval)
            self._wake.clear()

    def tick(self) -> None:
        """One round: refresh the services' health when due, start queued jobs, follow runs."""
        now = time.monotonic()
        if now - self._last_poll >= self.settings.service_poll_interval:
            self._last_poll = now
            self.registry.poll_all()
        self.scheduler.start_queued()
        self.monitor.follow_active()
