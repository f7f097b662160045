"""Store a batch of reported events once each, and derive the job's state from the new ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite

from trainyard_gateway.db import WriteSession
from trainyard_gateway.job_queries import logged_artifacts, logged_weights
from trainyard_gateway.job_state import transition
from trainyard_gateway.models import Job, JobEvent, utcnow
from trainyard_gateway.retries import attempt_seq_offset, end_or_retry
from trainyard_gateway.webhook_outbox import job_changed
from trainyard_wire.events import BatchAck, MetricEvent, StatusEvent, TrackingEvent, _Event
from trainyard_wire.failures import is_oom
from trainyard_wire.states import JobState, can_transition, is_terminal

# Both dialects can skip a conflicting row and return the ones inserted.
_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _insert_new(session: WriteSession, job_id: str, events: list[_Event]) -> set[int]:
    """Insert the events not stored yet; returns the seqs that were new (idempotent on seq)."""
    now = utcnow()
    rows = [
        {
            "job_id": job_id,
            "seq": e.seq,
            "type": e.type,
            "time": e.time,
            "received_at": now,
            "data": e.model_dump(mode="json", exclude={"seq", "type", "time"}),
        }
        for e in events
    ]
    dialect = session.get_bind().dialect.name
    make_insert = _INSERTS.get(dialect)
    if make_insert is None:  # another database: check first, then insert
        existing = set(
            session.scalars(
                JobEvent.__table__.select()
                .with_only_columns(JobEvent.seq)
                .where(JobEvent.job_id == job_id, JobEvent.seq.in_([r["seq"] for r in rows]))
            )
        )
        fresh = [r for r in rows if r["seq"] not in existing]
        if fresh:
            session.execute(insert(JobEvent), fresh)
        return {r["seq"] for r in fresh}
    # One cached statement run over all rows (executemany batches them into multi-row
    # INSERTs), rather than a statement with the rows inlined, which compiles afresh each time.
    stmt = (
        make_insert(JobEvent.__table__)
        .on_conflict_do_nothing(index_elements=["job_id", "seq"])
        .returning(JobEvent.__table__.c.seq)
    )
    return set(session.connection().execute(stmt, rows).scalars())


def _apply_status(session: WriteSession, job: Job, event: StatusEvent) -> None:
    target = JobState(event.state)
    if target == JobState.SUCCEEDED and event.stopped_early:  # the view shows the latest one
        job.stopped_early = event.stopped_early.model_dump(mode="json")
    if target == JobState.SUCCEEDED and event.registered:
        job.registered = event.registered.model_dump(mode="json")
    if is_terminal(job.state) or not can_transition(job.state, target):
        return  # a late or repeated report never rewrites history
    error = None
    if target in (JobState.FAILED, JobState.CANCELLED):
        error = {
            "reason": event.reason,
            "message": event.message,
            "error_type": event.error_type,
            "exit_code": event.exit_code,
            "oom": is_oom(event.reason),
            "log_tail": event.log_tail,
        }
    if event.metrics:
        job.metrics = {**(job.metrics or {}), **event.metrics}
    if event.result is not None:
        job.result = event.result
    if target == JobState.FAILED and error is not None:
        # A distributed run that lost a rank says so itself: the group may start again.
        end_or_retry(session, job, target, error)
        return
    transition(job, target, error)


def _apply_metric(job: Job, event: MetricEvent) -> None:
    job.epoch = event.epoch
    job.total_epochs = event.total_epochs
    job.eta_seconds = event.eta_seconds
    job.metrics = {**(job.metrics or {}), **event.metrics}


def ingest(session: WriteSession, job: Job, events: list[Any]) -> BatchAck:
    # Each attempt of a retried job numbers its events from 1: store them after the last's.
    offset = attempt_seq_offset(job.attempt)
    if offset:
        events = [e.model_copy(update={"seq": e.seq + offset}) for e in events]
    unique = {e.seq: e for e in events}  # a batch repeating a seq counts it once
    new = _insert_new(session, job.id, list(unique.values()))
    if any(unique[seq].type == "artifact" for seq in new):
        job.artifacts = logged_artifacts(session, job.id)  # read with the job, not per request
    if any(unique[seq].type == "weights" for seq in new):
        job.weights = logged_weights(session, job.id)
    for seq in sorted(new):
        event = unique[seq]
        if isinstance(event, StatusEvent):
            _apply_status(session, job, event)
        elif isinstance(event, MetricEvent):
            _apply_metric(job, event)
            job_changed(job, "epoch", session)
        elif isinstance(event, TrackingEvent):
            job.mlflow = event.model_dump(include={"run_id", "experiment_id", "url", "error"})
    job.last_event_at = utcnow()
    if new:
        job.updated_at = job.last_event_at
    last_seq = max(unique) - offset  # in the run's own numbering
    return BatchAck(stored=len(new), duplicates=len(events) - len(new), last_seq=last_seq)
