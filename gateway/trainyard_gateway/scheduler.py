"""The scheduler: starts queued jobs on their services, best first, within each service's room.

A job is claimed (`queued -> starting`) in a short write transaction that also counts the
framework's busy jobs, so no gateway worker starts more than the service's capacity; the
service is called after that commit, and what it answered is recorded in another short one.
The service's start is idempotent on the job id, so a retried start never trains twice.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update

from trainyard_gateway.cancellation import RunToStop, stop_run
from trainyard_gateway.db import Database, ReadSession, WriteSession
from trainyard_gateway.job_state import claim, requeue, transition
from trainyard_gateway.metrics import record_dispatch
from trainyard_gateway.models import Job
from trainyard_gateway.retries import continued_mlflow_run
from trainyard_gateway.service_client import (
    ServiceBusy,
    ServiceRejected,
    ServiceStatusError,
    ServiceUnreachable,
)
from trainyard_gateway.services import ServiceRegistry
from trainyard_gateway.settings import GatewaySettings
from trainyard_gateway.tokens import new_token, token_hash
from trainyard_runtime.logs import job_scoped
from trainyard_wire.errors import describe_errors, summarize
from trainyard_wire.failures import FailureReason
from trainyard_wire.runs import StartRun
from trainyard_wire.spec import JobSpec
from trainyard_wire.states import ACTIVE, JobState, is_terminal

log = logging.getLogger("trainyard.scheduler")

# Starts per framework per round: bounds one round's work when a service reports no capacity.
MAX_STARTS_PER_ROUND = 50


def no_slot(framework: str, capacity: int | None) -> str:
    most = f"at most {capacity}" if capacity is not None else "no more"
    return f"waiting for a free slot: the {framework} service runs {most} jobs at once"


def queued_ids(session: ReadSession, framework: str, limit: int) -> list[str]:
    """The framework's queued jobs in the order they start: higher priority first, then FIFO."""
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.state == JobState.QUEUED, Job.framework == framework)
            .order_by(Job.priority.desc(), Job.created_at, Job.id)
            .limit(limit)
        )
    )


def busy_count(session: ReadSession, framework: str) -> int:
    """The framework's jobs starting or running, counted in the store every worker shares."""
    busy = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.framework == framework, Job.state.in_([s.value for s in ACTIVE]))
    )
    return int(busy or 0)


def free_slots(session: ReadSession, framework: str, capacity: int | None) -> int:
    """Slots left: the service's capacity minus the framework's busy jobs; a service that
    reports none has its own 429 as the only limit."""
    if capacity is None:
        return MAX_STARTS_PER_ROUND
    return min(capacity - busy_count(session, framework), MAX_STARTS_PER_ROUND)


def hold_framework(session: WriteSession, framework: str) -> None:
    """Claims of one framework one at a time until this transaction ends (SQLite has one writer
    already; PostgreSQL takes a lock on the framework's name), so a count stays true."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"claim:{framework}".encode()).digest()[:8], "big", signed=True
        )
        session.execute(select(func.pg_advisory_xact_lock(key)))


def mark_waiting(session: WriteSession, framework: str, reason: str) -> None:
    """Say why the framework's queued jobs wait (one UPDATE, only rows that change)."""
    session.execute(
        update(Job)
        .where(
            Job.state == JobState.QUEUED,
            Job.framework == framework,
            or_(Job.queue_reason.is_(None), Job.queue_reason != reason),
        )
        .values(queue_reason=reason)
    )


class Scheduler:
    def __init__(self, db: Database, registry: ServiceRegistry, settings: GatewaySettings):
        self.db = db
        self.registry = registry
        self.settings = settings

    def start_queued(self) -> None:
        for framework in self.registry.frameworks:
            self.start_framework(framework)

    def start_framework(self, framework: str) -> None:
        """Start as many of the framework's queued jobs, best first, as its service has room for."""
        with self.db.read() as session:
            if not queued_ids(session, framework, 1):
                return
        status = self.registry.status(framework)
        if not status.healthy:
            status = self.registry.poll(framework)
        if not status.healthy:
            self._mark_waiting(framework, f"waiting for the {framework} service: {status.error}")
            return
        capacity = status.capacity
        with self.db.read() as session:
            free = free_slots(session, framework, capacity)
            job_ids = queued_ids(session, framework, free) if free > 0 else []
        reason: str | None = None
        for job_id in job_ids:
            reason = self._start(job_id, framework, status.url, capacity)
            if reason:
                break
        self._mark_waiting(framework, reason or no_slot(framework, capacity))

    def _mark_waiting(self, framework: str, reason: str) -> None:
        with self.db.write() as session:
            mark_waiting(session, framework, reason)

    @job_scoped
    def _start(self, job_id: str, framework: str, url: str, capacity: int | None) -> str | None:
        """Try to start one job. Returns why its framework can take no more now, if so."""
        token = new_token()
        with self.db.write() as session:
            hold_framework(session, framework)
            if capacity is not None and busy_count(session, framework) >= capacity:
                return no_slot(framework, capacity)  # another worker took the slot
            claimed = claim(session, job_id, callback_token_hash=token_hash(token), service_url=url)
        if claimed is None:
            return None  # another worker took it, or it was cancelled meanwhile
        try:
            request = StartRun(
                job_id=job_id,
                spec=JobSpec.model_validate(claimed.spec),
                callback_url=f"{self.settings.callback_base()}/internal/v1/jobs/{job_id}/events",
                callback_token=token,
                mlflow_run_id=continued_mlflow_run(claimed.attempt, claimed.mlflow),
                attempt=claimed.attempt,
            )
        except ValidationError as exc:  # stored by an older gateway whose schema differed
            errors = describe_errors(exc.errors(), JobSpec)
            message = f"the job's stored spec is no longer valid: {summarize(errors)}"
            self._fail(job_id, FailureReason.SPEC_UNSUPPORTED, message, errors)
            return None
        client = self.registry.client(framework)
        try:
            run = client.start(request)
        except ServiceUnreachable as exc:
            self.registry.mark_down(framework, exc.message)
            return self._requeue(job_id, f"waiting for the {framework} service: {exc.message}")
        except ServiceRejected as exc:
            self._fail(job_id, FailureReason.REJECTED_BY_SERVICE, exc.message, exc.errors)
            return None
        except ServiceBusy as exc:
            return self._requeue(job_id, f"waiting for a free slot: {exc.message}")
        except ServiceStatusError as exc:
            return self._requeue(
                job_id, f"the {framework} service answered {exc.status_code}: {exc.message}"
            )
        self._started(job_id, run.run_id)
        return None

    def _requeue(self, job_id: str, reason: str) -> str:
        with self.db.write() as session:
            requeue(session, job_id, reason)
        return reason

    def _started(self, job_id: str, run_id: str) -> None:
        with self.db.write() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None:
                return
            job.run_id = run_id
            record_dispatch(job)
            cancelled_meanwhile = is_terminal(job.state) or job.cancel_requested
            url = job.service_url
        if cancelled_meanwhile and url:  # the user cancelled while the start was in flight
            stop_run(self.db, self.registry, RunToStop(job_id, url, run_id))

    def _fail(
        self, job_id: str, reason: FailureReason, message: str, errors: list[dict[str, Any]] | None
    ) -> None:
        error = {"reason": reason, "message": message, "errors": errors}
        with self.db.write() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is not None:
                transition(job, JobState.FAILED, error)
