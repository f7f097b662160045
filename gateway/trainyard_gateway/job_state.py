"""Changing a job's state: the one place that checks transitions and stamps times."""

from __future__ import annotations

from typing import Any

from trainyard_gateway.models import Job, utcnow
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
    return True
