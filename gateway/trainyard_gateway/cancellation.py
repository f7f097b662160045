"""Cancelling a job: at once when queued; through its service when it runs.

A user's cancel and the dispatcher's follow-up stop (the service was away, or the run started
while the cancel came in) share `stop_run`, so every cancelled job ends with the same error.
The service is asked only after the transaction that recorded the request has committed: no
row lock is held across a network call.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainyard_gateway.db import Database, WriteSession
from trainyard_gateway.errors import JobEnded
from trainyard_gateway.job_queries import get_job
from trainyard_gateway.job_state import transition
from trainyard_gateway.models import Job
from trainyard_gateway.service_client import ServiceError
from trainyard_gateway.services import ServiceRegistry
from trainyard_wire.failures import CANCELLED_MESSAGE, FailureReason
from trainyard_wire.states import JobState, is_terminal

CANCELLED_BY_USER = {"reason": FailureReason.CANCELLED, "message": CANCELLED_MESSAGE}


@dataclass(frozen=True)
class RunToStop:
    job_id: str
    service_url: str
    run_id: str


def request_cancel(session: WriteSession, job_id: str) -> RunToStop | None:
    """Record the user's cancel. Returns the run still to stop; None when it is cancelled now."""
    job = get_job(session, job_id, for_update=True)
    if is_terminal(job.state):
        raise JobEnded(f"job {job.id} already ended ({job.state}); nothing to cancel")
    job.cancel_requested = True
    if job.state == JobState.QUEUED or not job.run_id or not job.service_url:
        # Not started, or the start is in flight: the dispatcher stops any run it then gets.
        transition(job, JobState.CANCELLED, CANCELLED_BY_USER)
        return None
    return RunToStop(job.id, job.service_url, job.run_id)


def stop_run(db: Database, registry: ServiceRegistry, run: RunToStop) -> bool:
    """Ask the service to stop the run, then mark the job cancelled.

    False when the service could not be asked: the job keeps `cancel_requested`, and the
    dispatcher asks again each round.
    """
    try:
        registry.client_at(run.service_url).stop(run.run_id)
    except ServiceError:
        return False
    record_cancelled(db, run.job_id)
    return True


def record_cancelled(db: Database, job_id: str) -> None:
    """The run is stopped: end the job as cancelled (unless it already ended)."""
    with db.write() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is not None:
            transition(job, JobState.CANCELLED, CANCELLED_BY_USER)


def cancel(db: Database, registry: ServiceRegistry, job_id: str) -> bool:
    """Cancel the job; True when it is cancelled now, False when the stop is still pending."""
    with db.write() as session:
        run = request_cancel(session, job_id)
    return run is None or stop_run(db, registry, run)
