"""The scheduler: starts queued jobs on their services, best first, within each service's room.

Jobs are claimed (`queued -> starting`), as many as there are free slots, in one short write
transaction that also counts the framework's busy jobs, so no gateway worker starts more than
the service's capacity. Slots are counted as the service counts them (`Health.slots`): where its
executor runs on its own machine, a distributed run takes one per process of its node. The
service is called after that commit, and what it answered is recorded in another short one.
The service's start is idempotent on the job id, so a retried start never trains twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update

from trainyard_gateway.cancellation import RunToStop, stop_run
from trainyard_gateway.db import Database, ReadSession, WriteSession
from trainyard_gateway.job_state import Claimed, claim_queued, one_slot, requeue, transition
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
from trainyard_runtime.logs import job_scoped
from trainyard_wire.errors import describe_errors, summarize
from trainyard_wire.failures import FailureReason
from trainyard_wire.runs import Health, StartRun
from trainyard_wire.spec import JobSpec
from trainyard_wire.states import ACTIVE, JobState, is_terminal

log = logging.getLogger("trainyard.scheduler")

# Starts per framework per round: bounds one round's work when a service reports no capacity.
MAX_STARTS_PER_ROUND = 50
# Jobs claimed in one transaction; a service that turns out full sends back at most these.
CLAIMS_PER_TRANSACTION = 8
# The first pause before asking a service that is still full again (its slot held by a run that
# reported its end and is exiting); it doubles while the service stays full, up to the dispatch
# interval.
BUSY_RETRY_FIRST = 0.05


def no_slot(framework: str, capacity: int | None, unit: str = "jobs") -> str:
    most = f"at most {capacity}" if capacity is not None else "no more"
    return f"waiting for a free slot: the {framework} service runs {most} {unit} at once"


def still_full(framework: str, running: int, capacity: int, unit: str = "jobs") -> str:
    return (
        f"waiting for a free slot: the {framework} service still runs {running} of {capacity} "
        f"{unit} (a run that reported its end is exiting)"
    )


def weigher(health: Health | None) -> Callable[[dict[str, Any]], int]:
    """The slots a stored spec takes on the service that reported `health`. A job that needs
    more than the whole capacity (the service's was lowered after it was queued) counts as all
    of it: started on an idle service, it is refused there (422) instead of blocking the queue."""
    if health is None:
        return one_slot

    def weigh(spec: dict[str, Any]) -> int:
        try:
            slots = health.slots(JobSpec.model_validate(spec))
        except ValidationError:  # an older schema's spec: its start fails it, one slot till then
            return 1
        return max(1, min(slots, health.capacity))

    return weigh


def queue_reasons(session: ReadSession, framework: str) -> set[str | None]:
    """The reasons the framework's queued jobs show now, each once."""
    return set(
        session.scalars(
            select(Job.queue_reason)
            .where(Job.state == JobState.QUEUED, Job.framework == framework)
            .distinct()
        )
    )


def frameworks_waiting(session: ReadSession) -> set[str]:
    """The frameworks with queued jobs, in one query for the round."""
    return set(
        session.scalars(select(Job.framework).where(Job.state == JobState.QUEUED).distinct())
    )


def busy_count(
    session: ReadSession, framework: str, weigh: Callable[[dict[str, Any]], int] = one_slot
) -> int:
    """The slots the framework's jobs starting or running take, counted in the store every
    worker shares (one per job unless `weigh` says otherwise)."""
    active = Job.framework == framework, Job.state.in_([s.value for s in ACTIVE])
    if weigh is one_slot:
        busy = session.scalar(select(func.count()).select_from(Job).where(*active))
        return int(busy or 0)
    return sum(weigh(spec) for spec in session.scalars(select(Job.spec).where(*active)))


def head_slots(session: ReadSession, framework: str, weigh: Callable[[dict[str, Any]], int]) -> int:
    """The slots the framework's next queued job takes (the claim stops at it until it fits)."""
    spec = session.scalar(
        select(Job.spec)
        .where(Job.state == JobState.QUEUED, Job.framework == framework)
        .order_by(Job.priority.desc(), Job.created_at, Job.id)
        .limit(1)
    )
    return 1 if spec is None else weigh(spec)


def free_slots(
    session: ReadSession,
    framework: str,
    capacity: int | None,
    weigh: Callable[[dict[str, Any]], int] = one_slot,
) -> int:
    """Slots left: the service's capacity minus the slots of the framework's busy jobs; a
    service that reports none has its own 429 as the only limit."""
    if capacity is None:
        return MAX_STARTS_PER_ROUND
    return min(capacity - busy_count(session, framework, weigh), MAX_STARTS_PER_ROUND)


def slot_unit(health: Health | None) -> str:
    return health.slot_unit if health else "jobs"


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
        # When the job store shows a free slot that the service does not (a run that reported
        # its end is still exiting), the service is asked again after a short, growing pause
        # (`retry_at` tells the dispatcher when), and jobs are claimed once it has room.
        self.retry_at: float | None = None
        self._busy_pause: dict[str, float] = {}

    def start_queued(self) -> None:
        self.retry_at = None
        with self.db.read() as session:
            waiting = frameworks_waiting(session)
        for framework in self.registry.frameworks:
            if framework in waiting:
                self.start_framework(framework)

    def start_framework(self, framework: str) -> None:
        """Start as many of the framework's queued jobs, best first, as its service has room for."""
        status = self.registry.status(framework)
        if status.healthy and status.capacity is not None:
            weigh, unit = weigher(status.health), slot_unit(status.health)
            with self.db.read() as session:
                full = free_slots(session, framework, status.capacity, weigh) < head_slots(
                    session, framework, weigh
                )
            if full:  # a final report wakes the next round
                self._mark_waiting(framework, no_slot(framework, status.capacity, unit))
                return
        # A slot is free in the job store (or the service is away): ask the service, since a
        # run that reported its end may still be exiting and hold its slot there.
        status = self.registry.poll(framework)
        if not status.healthy:
            self._mark_waiting(framework, f"waiting for the {framework} service: {status.error}")
            return
        capacity = status.capacity
        running = status.health.running if status.health else 0
        weigh, unit = weigher(status.health), slot_unit(status.health)
        with self.db.read() as session:
            head = head_slots(session, framework, weigh)
        if capacity is not None and capacity - running < head:
            self._try_again_soon(framework)
            self._mark_waiting(framework, still_full(framework, running, capacity, unit))
            return
        self._busy_pause.pop(framework, None)
        reason: str | None = None
        # No more than the service has room for by its own count either.
        budget = MAX_STARTS_PER_ROUND
        if capacity is not None:
            budget = min(budget, capacity - running)
        room = True
        while room and reason is None and budget > 0:
            with self.db.write() as session:
                hold_framework(session, framework)  # the count and the claims stay true
                free = min(free_slots(session, framework, capacity, weigh), budget)
                claimed = (
                    claim_queued(
                        session, framework, CLAIMS_PER_TRANSACTION, status.url, free, weigh
                    )
                    if free > 0
                    else []
                )
            budget -= sum(job.slots for job in claimed)
            room = len(claimed) == CLAIMS_PER_TRANSACTION  # more may fit: claim again
            for index, job in enumerate(claimed):
                reason = self._start(job.job_id, job, framework)
                if reason:  # the service takes no more now: the rest go back to the queue
                    self._requeue([each.job_id for each in claimed[index:]], reason)
                    room = False
                    break
        self._mark_waiting(framework, reason or no_slot(framework, capacity, unit))

    def _mark_waiting(self, framework: str, reason: str) -> None:
        """Say why the framework's queued jobs wait; a write only when one says otherwise."""
        with self.db.read() as session:
            if not queue_reasons(session, framework) - {reason}:
                return
        with self.db.write() as session:
            mark_waiting(session, framework, reason)

    @job_scoped
    def _start(self, job_id: str, claimed: Claimed, framework: str) -> str | None:
        """Start one claimed job. Returns why its framework can take no more now, if so; the
        job itself is then still `starting`, for the caller to put back in the queue."""
        try:
            request = StartRun(
                job_id=job_id,
                spec=JobSpec.model_validate(claimed.spec),
                callback_url=f"{self.settings.callback_base()}/internal/v1/jobs/{job_id}/events",
                callback_token=claimed.callback_token,
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
            return f"waiting for the {framework} service: {exc.message}"
        except ServiceRejected as exc:
            self._fail(job_id, FailureReason.REJECTED_BY_SERVICE, exc.message, exc.errors)
            return None
        except ServiceBusy as exc:
            self._try_again_soon(framework)
            return f"waiting for a free slot: {exc.message}"
        except ServiceStatusError as exc:
            return f"the {framework} service answered {exc.status_code}: {exc.message}"
        self._busy_pause.pop(framework, None)
        self._started(job_id, run.run_id)
        return None

    def _try_again_soon(self, framework: str) -> None:
        pause = self._busy_pause.get(framework, BUSY_RETRY_FIRST / 2) * 2
        pause = min(pause, self.settings.dispatch_interval)
        self._busy_pause[framework] = pause
        at = time.monotonic() + pause
        self.retry_at = at if self.retry_at is None else min(self.retry_at, at)

    def _requeue(self, job_ids: list[str], reason: str) -> None:
        with self.db.write() as session:
            for job_id in job_ids:
                requeue(session, job_id, reason)

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
