"""The internal endpoint train.py reports to: event batches, authenticated per job."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, BackgroundTasks, Request

from trainyard_gateway.deps import GatewayDep, SessionDep
from trainyard_gateway.event_ingest import ingest
from trainyard_gateway.metrics import count_events
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.tokens import token_matches
from trainyard_shared.events import BatchAck, EventBatch
from trainyard_shared.http_api import ApiError, bearer_token
from trainyard_shared.states import is_terminal

router = APIRouter(prefix="/internal/v1", tags=["internal"])


@router.post("/jobs/{job_id}/events", response_model=BatchAck)
def receive_events(
    job_id: str,
    batch: EventBatch,
    request: Request,
    session: SessionDep,
    gateway: GatewayDep,
    background: BackgroundTasks,
) -> BatchAck:
    job = session.get(Job, job_id, with_for_update=True)
    # One answer for "no such job" and "wrong token": a token reveals nothing about other jobs.
    if job is None or not token_matches(bearer_token(request), job.callback_token_hash):
        raise ApiError(401, "callback token is not valid for this job")
    grace = timedelta(seconds=gateway.settings.callback_grace_seconds)
    if job.finished_at is not None and utcnow() - job.finished_at > grace:
        raise ApiError(410, f"job {job_id} ended at {job.finished_at.isoformat()}; token expired")
    count_events(batch.events)
    ack = ingest(session, job, batch.events)
    if is_terminal(job.state):
        # A slot just freed: dispatch the next job now (after this commit), not next round.
        background.add_task(gateway.dispatcher.wake)
    return ack
