"""The internal endpoint train.py reports to: event batches, authenticated per job."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool

from trainyard_gateway.deps import Gateway, GatewayDep
from trainyard_gateway.errors import TokenExpired, Unauthorized
from trainyard_gateway.event_ingest import ingest
from trainyard_gateway.http_errors import bearer_token
from trainyard_gateway.metrics import count_events
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.tokens import token_matches
from trainyard_wire.events import BatchAck, EventBatch
from trainyard_wire.states import is_terminal

router = APIRouter(prefix="/internal/v1", tags=["internal"])


@router.post("/jobs/{job_id}/events", response_model=BatchAck)
async def receive_events(
    job_id: str,
    batch: EventBatch,
    request: Request,
    gateway: GatewayDep,
    background: BackgroundTasks,
) -> BatchAck:
    # The batch is parsed by now: the transaction, in one worker thread, holds the job's row
    # (or SQLite's one writer's place) for the storing alone. The ack follows the commit.
    ack, ended = await run_in_threadpool(_store, gateway, job_id, bearer_token(request), batch)
    if ended:
        # A slot just freed: dispatch the next job now, not next round.
        background.add_task(gateway.dispatcher.wake)
    return ack


def _store(
    gateway: Gateway, job_id: str, token: str | None, batch: EventBatch
) -> tuple[BatchAck, bool]:
    with gateway.db.write() as session:
        job = session.get(Job, job_id, with_for_update=True)
        # One answer for "no such job" and "wrong token": a token reveals nothing about others.
        if job is None or not token_matches(token, job.callback_token_hash):
            raise Unauthorized("callback token is not valid for this job")
        grace = timedelta(seconds=gateway.settings.callback_grace_seconds)
        if job.finished_at is not None and utcnow() - job.finished_at > grace:
            raise TokenExpired(
                f"job {job_id} ended at {job.finished_at.isoformat()}; token expired"
            )
        count_events(batch.events)
        return ingest(session, job, batch.events), is_terminal(job.state)
