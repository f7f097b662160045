"""Cancelling a job: at once when queued; through its service when it runs."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session

from trainyard_gateway.errors import JobEnded
from trainyard_gateway.job_state import transition
from trainyard_gateway.models import Job
from trainyard_gateway.services import ServiceRegistry
from trainyard_wire.states import JobState, is_terminal

CANCELLED_BY_USER = {"reason": "cancelled", "message": "cancelled by user"}


def cancel(session: Session, job: Job, registry: ServiceRegistry) -> bool:
    """Cancel the job; True when it is cancelled now, False when the stop is still pending."""
    if is_terminal(job.state):
        raise JobEnded(f"job {job.id} already ended ({job.state}); nothing to cancel")
    job.cancel_requested = True
    if job.state == JobState.QUEUED or not job.run_id:
        # Not started, or the start is in flight: the dispatcher stops any run it then gets.
        transition(job, JobState.CANCELLED, CANCELLED_BY_USER)
        return True
    try:
        response = registry.client.post(f"{job.service_url}/v1/runs/{job.run_id}/stop")
    except httpx.HTTPError:
        return False  # the dispatcher keeps asking the service to stop it
    if response.status_code in (200, 404):
        transition(job, JobState.CANCELLED, CANCELLED_BY_USER)
        return True
    return False
