"""Changing a job's state: the one place that checks transitions and stamps times.

`transition` changes a loaded row, and queues the change for the webhooks subscribed to it (in
the same transaction). `claim` and `requeue` change a row in one conditional UPDATE
(`… WHERE state = current`, then a rowcount check), so two gateway workers racing for the same
job never both win; they check the edge and stamp times the same way (neither edge is a webhook
event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from trainyard_gateway.db import WriteSession
from trainyard_gateway.models import Job, utcnow
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

    spec: dict[str, Any]
    attempt: int
    mlflow: dict[str, Any] | None


def _edge(current: JobState, target: JobState) -> dict[str, Any]:
    """The columns a conditional UPDATE sets for `current -> target`, checked as `transition`."""
    if not can_transition(current, target):
        raise InvalidTransition(current, target)
    return {"state": target.value, "updated_at": utcnow()}


def claim(session: WriteSession, job_id: str, **values: Any) -> Claimed | None:
    """Take a queued job for this worker (`queued -> starting`); None when it is not ours.

    On PostgreSQL the row is locked first and skipped when another worker holds it; the UPDATE
    itself only changes a row that is still `queued`, which keeps every database (SQLite: one
    writer at a time) safe. `values` are set with the state (the callback token, the service).
    """
    row = session.execute(
        select(Job.spec, Job.attempt, Job.mlflow)
        .where(Job.id == job_id, Job.state == JobState.QUEUED)
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if row is None:
        return None
    changes = {**_edge(JobState.QUEUED, JobState.STARTING), "queue_reason": None, **values}
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.state == JobState.QUEUED).values(**changes)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return None
    spec, attempt, mlflow = row
    return Claimed(dict(spec), attempt, mlflow)


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
