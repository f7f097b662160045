"""Changing a job's state: the one place that checks transitions and stamps times.

`transition` changes a loaded row, and queues the change for the webhooks subscribed to it (in
the same transaction). `claim_queued` and `requeue` change each row in one conditional UPDATE
(`… WHERE state = current`, then a rowcount check), so two gateway workers racing for the same
job never both win; they check the edge and stamp times the same way (neither edge is a webhook
event).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from trainyard_gateway.db import WriteSession
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.tokens import new_token, token_hash
from trainyard_gateway.webhook_outbox import job_changed
from trainyard_wire.states import InvalidTransition, JobState, can_transition, is_terminal


def transition(job: Job, target: JobState, error: dict[str, Any] | None = None) -> bool:
    """Move the job to `target`. False (and no change) when the job already ended."""
    if is_terminal(job.state):
        return False
    if not can_transition(job.state, target):
        raise InvalidTransition(job.state, target)
    now = utcnow()
    job.state = target.value
    job.updated_at = now
    if target == JobState.RUNNING and job.started_at is None:
        job.started_at = now
    if is_terminal(target):
        job.finished_at = now
        job.queue_reason = None
        job.eta_seconds = 0.0 if target == JobState.SUCCEEDED else None
    if error is not None:
        job.error = {k: v for k, v in error.items() if v is not None}
    job_changed(job, target.value)  # webhooks subscribed to it (running and final states)
    return True


@dataclass(frozen=True)
class Claimed:
    """A job this worker now starts: what the start request needs."""

    job_id: str
    spec: dict[str, Any]
    attempt: int
    mlflow: dict[str, Any] | None
    callback_token: str
    slots: int = 1  # of the service's capacity (a distributed run's processes on one node)


def one_slot(spec: dict[str, Any]) -> int:
    return 1


def _edge(current: JobState, target: JobState) -> dict[str, Any]:
    """The columns a conditional UPDATE sets for `current -> target`, checked as `transition`."""
    if not can_transition(current, target):
        raise InvalidTransition(current, target)
    return {"state": target.value, "updated_at": utcnow()}


def claim_queued(
    session: WriteSession,
    framework: str,
    limit: int,
    service_url: str,
    slots: int | None = None,
    weigh: Callable[[dict[str, Any]], int] = one_slot,
) -> list[Claimed]:
    """Take up to `limit` of the framework's queued jobs, best first (`queued -> starting`),
    together taking at most `slots` of the service's capacity (each job what `weigh` says).

    The first job that does not fit stops the claim: it waits at the head of the queue for
    room, and the jobs behind it wait too, so a larger job is never passed over for ever.
    One transaction for the whole batch. On PostgreSQL the rows are locked as they are read and
    rows another worker holds are skipped; each UPDATE only changes a row that is still
    `queued`, which keeps every database (SQLite: one writer at a time) safe. Each claimed job
    gets a new callback token (its hash is stored) and the service it starts on.
    """
    room = limit if slots is None else slots
    rows = session.execute(
        select(Job.id, Job.spec, Job.attempt, Job.mlflow)
        .where(Job.state == JobState.QUEUED, Job.framework == framework)
        .order_by(Job.priority.desc(), Job.created_at, Job.id)
        .limit(min(limit, room))  # every job takes one slot at least
        .with_for_update(skip_locked=True)
    ).all()
    claimed: list[Claimed] = []
    for job_id, spec, attempt, mlflow in rows:
        weight = weigh(spec)
        if weight > room:
            break
        token = new_token()
        changes = {
            **_edge(JobState.QUEUED, JobState.STARTING),
            "queue_reason": None,
            "callback_token_hash": token_hash(token),
            "service_url": service_url,
        }
        result = session.execute(
            update(Job).where(Job.id == job_id, Job.state == JobState.QUEUED).values(**changes)
        )
        if cast(CursorResult[Any], result).rowcount == 1:
            claimed.append(Claimed(job_id, dict(spec), attempt, mlflow, token, weight))
            room -= weight
    return claimed


def requeue(session: WriteSession, job_id: str, reason: str) -> bool:
    """Put a job whose start failed back in the queue (`starting -> queued`), if still starting."""
    changes = {
        **_edge(JobState.STARTING, JobState.QUEUED),
        "queue_reason": reason,
        "callback_token_hash": None,
    }
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.STARTING).values(**changes)
    )
    return cast(CursorResult[Any], result).rowcount == 1
