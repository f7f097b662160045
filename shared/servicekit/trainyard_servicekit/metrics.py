"""A training service's Prometheus metrics, served at `/metrics`: runs active, capacity, starts.

Active runs and capacity are asked of each executor at scrape time; the starts are counted as
they happen (a service is one process, so no multiprocess handling is needed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    disable_created_metrics,
)
from prometheus_client import generate_latest as exposition
from prometheus_client.core import GaugeMetricFamily, Metric

from trainyard_servicekit.executors.base import Executor
from trainyard_servicekit.executors.unavailable import ExecutorUnavailable
from trainyard_wire.runs import RunView

log = logging.getLogger("trainyard.service.metrics")

RUNS_STARTED = Counter(
    "trainyard_service_runs_started",
    "Runs this service started, by framework and executor",
    ["framework", "executor"],
)


def record_run_started(framework: str, run: RunView) -> None:
    RUNS_STARTED.labels(framework, run.executor).inc()
    log.info("run started on %s", run.executor, extra={"job_id": run.run_id})


class ExecutorCollector:
    """Runs active and capacity of each executor, asked on each scrape."""

    def __init__(
        self,
        framework: str,
        executors: Mapping[str, Executor],
        capacity: Callable[[Executor], int],
    ) -> None:
        self.framework = framework
        self.executors = executors
        self.capacity = capacity

    def describe(self) -> list[Metric]:
        return []  # asking an executor may reach a cluster: scrape time only

    def collect(self) -> Iterator[Metric]:
        framework = self.framework
        labels = ["framework", "executor"]
        active = GaugeMetricFamily(
            "trainyard_service_runs_active", "Runs running now", labels=labels
        )
        capacity = GaugeMetricFamily(
            "trainyard_service_run_capacity",
            "What this service takes at once: processes on this machine, Jobs on a cluster",
            labels=labels,
        )
        for name, executor in self.executors.items():
            capacity.add_metric([framework, name], self.capacity(executor))
            try:
                active.add_metric([framework, name], executor.running_count())
            except ExecutorUnavailable as exc:  # left out: unknown is not zero
                log.warning("metrics: executor %s cannot count its runs: %s", name, exc)
        yield from (active, capacity)


def install_service_metrics(
    app: FastAPI,
    framework: str,
    executors: Mapping[str, Executor],
    capacity: Callable[[Executor], int],
) -> None:
    """Serve `/metrics` (open, like `/health`): `capacity` says what an executor takes at
    once."""
    disable_created_metrics()  # `_created` series only add noise to every counter
    registry = CollectorRegistry()
    registry.register(ExecutorCollector(framework, executors, capacity))

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(exposition(REGISTRY) + exposition(registry), media_type=CONTENT_TYPE_LATEST)
