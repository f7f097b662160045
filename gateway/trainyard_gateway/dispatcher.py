"""The dispatcher: the background loop that drives the scheduler and the run monitor.

It runs in a background thread of each gateway process. Each round (`tick`) starts what the
services have room for, then follows the active runs. A round begins at once when something
frees a slot or queues a job (`wake`: a submission, a job's final report), and otherwise every
`dispatch_interval`; only the timed rounds check the runs with their services, so a burst of
wakes costs no service calls beyond the starts.
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
        next_follow = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            follow = now >= next_follow
            if follow:
                next_follow = now + self.settings.dispatch_interval
            try:
                self.tick(follow=follow)
            except Exception:  # keep dispatching whatever one round hit; it is logged
                log.exception("dispatcher round failed")
            self._wake.wait(self._until_next_round(next_follow))
            self._wake.clear()

    def _until_next_round(self, next_follow: float) -> float:
        """Seconds to the next timed round: the runs' next check, or sooner when a service that
        was full is to be asked again."""
        due = next_follow
        if self.scheduler.retry_at is not None:
            due = min(due, self.scheduler.retry_at)
        return max(due - time.monotonic(), 0.0)

    def tick(self, follow: bool = True) -> None:
        """One round: refresh the services' health when due, start queued jobs, and (`follow`)
        check the active runs.

        A wake (a job queued, a job ended) starts a round without the runs' check: train.py
        reports its own progress and end, and the check, which only catches what it cannot
        report, runs every `dispatch_interval`.
        """
        now = time.monotonic()
        if now - self._last_poll >= self.settings.service_poll_interval:
            self._last_poll = now
            self.registry.poll_all()
        self.scheduler.start_queued()
        if follow:
            self.monitor.follow_active()
