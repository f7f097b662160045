"""The gateway's Prometheus metrics, served at `/metrics`.

Jobs by state and framework and the queue length are read from the job store at scrape time,
so every gateway worker answers the same. Dispatch latency, callback events and HTTP latency
are counted in the process that saw them. The production server (trainyard_gateway.serve) sets
`PROMETHEUS_MULTIPROC_DIR` before its workers import prometheus_client: each worker then writes
them to its own files in that folder, and `/metrics`, whichever worker answers, adds them up.

Only counters and histograms here, which multiprocess mode sums. A `Gauge` would need a
`multiprocess_mode` ("livesum", "max"…) saying how to combine the workers' values.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainyard_gateway.db import Database
from trainyard_gateway.models import Job, utcnow
from trainyard_wire.states import JobState

log = logging.getLogger("trainyard.metrics")

DISPATCH_LATENCY = Histogram(
    "trainyard_dispatch_latency_seconds",
    "Time from a job's submission until its training service started it",
    ["framework"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
CALLBACK_EVENTS = Counter(
    "trainyard_callback_events_received",
    "Events train.py reported to the callback endpoint, by type (repeats included)",
    ["type"],
)
HTTP_LATENCY = Histogram(
    "trainyard_http_request_duration_seconds",
    "Time until the response started, by method, route template and status",
    ["method", "route", "status"],
)
# Labels come from a bounded set whatever clients send: any path no route serves is one route,
# any method outside the standard ones is one method.
UNMATCHED_ROUTE = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def record_dispatch(job: Job) -> None:
    """A job's service accepted it: observe how long it waited since submission."""
    waited = (utcnow() - job.created_at).total_seconds()
    DISPATCH_LATENCY.labels(job.framework).observe(max(waited, 0.0))
    log.info(
        "started on the %s service after %.2fs", job.framework, waited, extra={"job_id": job.id}
    )


def count_events(events: Iterable[Any]) -> None:
    for event in events:
        CALLBACK_EVENTS.labels(event.type).inc()


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED_ROUTE


class RequestMetrics:
    """ASGI middleware: observes each HTTP request when its response starts.

    Timing to the response's start keeps streams (log SSE, downloads) comparable to the rest.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            observed = True
            method = scope["method"] if scope["method"] in METHODS else "other"
            HTTP_LATENCY.labels(method, route_template(scope), str(status)).observe(
                time.perf_counter() - start
            )

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not observed:
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except Exception:
            if not observed:
                observe(500)
            raise


class JobStoreCollector:
    """Job counts read from the job store on each scrape."""

    def __init__(self, db: Database, frameworks: Callable[[], list[str]]) -> None:
        self.db = db
        self.frameworks = frameworks

    def describe(self) -> list[Metric]:
        return []  # nothing to learn without asking the database; scrape-time only

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("trainyard_job_store_up", "1 when the job store answered")
        try:
            with self.db.read() as session:
                rows = session.execute(
                    select(Job.state, Job.framework, func.count()).group_by(
                        Job.state, Job.framework
                    )
                ).all()
        except SQLAlchemyError as exc:
            log.warning("metrics: the job store did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        counts = {(state, framework): count for state, framework, count in rows}
        jobs = GaugeMetricFamily(
            "trainyard_jobs", "Jobs in the job store", labels=["state", "framework"]
        )
        queue = GaugeMetricFamily(
            "trainyard_queue_length", "Jobs waiting to start", labels=["framework"]
        )
        # Every state of every known framework, zeros included: absent and 0 differ in PromQL.
        for framework in sorted(set(self.frameworks()) | {fw for _, fw in counts}):
            for state in JobState:
                jobs.add_metric([state.value, framework], counts.get((state.value, framework), 0))
            queue.add_metric([framework], counts.get((JobState.QUEUED.value, framework), 0))
        up.add_metric([], 1)
        yield from (jobs, queue, up)


def process_registry() -> CollectorRegistry:
    """This process's counters, or every worker's when they share a multiprocess folder."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY  # the one-process server (`python -m trainyard_gateway`)
    # A fresh registry per scrape, as prometheus_client's multiprocess docs do: it reads the
    # folder's files as they are now. The default REGISTRY would hold only this worker's values.
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def install_metrics(app: FastAPI, db: Database, frameworks: Callable[[], list[str]]) -> None:
    """Serve `/metrics` (open, like `/health`) and time every HTTP request."""
    disable_created_metrics()  # `_created` series only add noise to every counter
    store = CollectorRegistry()
    store.register(JobStoreCollector(db, frameworks))
    app.add_middleware(RequestMetrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        # The job store's gauges come from their own registry, once per scrape: they are not
        # in the worker files, so multiprocess mode neither repeats nor adds them up.
        body = generate_latest(process_registry()) + generate_latest(store)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
