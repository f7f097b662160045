"""Retries: a run that is lost, OOM-killed, evicted or lost a rank goes back to the queue as
the same job.

With `spec.max_retries` left, the job does not end: it is queued again for another attempt that
resumes from its last checkpoint (or, with none yet, from where its spec started). Why each
attempt was retried is kept on the job and written to its log.

Each attempt's train.py numbers its events from 1. The gateway stores them shifted by the
attempt (`attempt_seq_offset`), so attempts never collide in the event store (unique on job id
and seq) and read back in order. A retry drops the replaced attempt's callback token at once
and the next dispatch hands out a new one, so the old attempt's late events are refused.

An attempt goes on in the MLflow run of the attempts before it (`job.mlflow` is kept across
attempts); a new job made by resuming another is another job, with its own run.
"""

from __future__ import annotations

import re
from typing import Any

from trainyard_gateway.db import WriteSession
from trainyard_gateway.job_state import transition
from trainyard_gateway.models import Job, JobEvent, utcnow
from trainyard_gateway.resume import last_checkpoint_key
from trainyard_wire.failures import FailureReason
from trainyard_wire.runs import MLFLOW_RUN_ID_PATTERN
from trainyard_wire.states import JobState, can_retry

# Failure reasons a new attempt may well not meet again: the machine, not the job, was at fault.
# A distributed run that lost a rank is restarted as a whole group, never one rank alone.
RETRYABLE_FAILURES = frozenset(
    {FailureReason.OOM_KILLED, FailureReason.EVICTED, FailureReason.RANK_LOST}
)
# Seqs one attempt may use: far more events than any run reports.
ATTEMPT_SEQ_SPAN = 1_000_000_000


def attempt_seq_offset(attempt: int) -> int:
    """Added to the seqs an attempt reports; its own seq 0 is free for the gateway's retry note."""
    return (attempt - 1) * ATTEMPT_SEQ_SPAN


def retry_cause(state: JobState, error: dict[str, Any]) -> str | None:
    """Why a retry may help a job about to end in `state` with `error`; None if it would not."""
    if state == JobState.LOST:
        return FailureReason.LOST.value
    reason = error.get("reason")
    if state == JobState.FAILED and reason in RETRYABLE_FAILURES:
        return str(reason)
    return None


def attempts_allowed(job: Job) -> int:
    return 1 + int(job.spec.get("max_retries") or 0)


def continued_mlflow_run(attempt: int, mlflow: dict[str, Any] | None) -> str | None:
    """The MLflow run a retried attempt goes on in: the one its job's attempts tracked in."""
    run_id = (mlflow or {}).get("run_id")
    # The run id came from train.py: pass on only what the service accepts.
    if attempt > 1 and isinstance(run_id, str) and re.fullmatch(MLFLOW_RUN_ID_PATTERN, run_id):
        return run_id
    return None


def end_or_retry(session: WriteSession, job: Job, state: JobState, error: dict[str, Any]) -> bool:
    """End the job in `state`, or queue another attempt when a retry may help and one is left.

    Returns True when the job was queued again.
    """
    cause = retry_cause(state, error)
    if (
        cause is None
        or job.cancel_requested
        or job.attempt >= attempts_allowed(job)
        or not can_retry(job.state)
    ):
        transition(job, state, error)
        return False
    _queue_next_attempt(session, job, state, cause, error)
    return True


def _queue_next_attempt(
    session: WriteSession, job: Job, state: JobState, cause: str, error: dict[str, Any]
) -> None:
    now = utcnow()
    resume_from = last_checkpoint_key(session, job) or job.spec.get("resume_from")
    ended = job.attempt
    job.attempt = ended + 1
    # From a checkpoint of its own, a fine-tuned job's starting weights (init_from) are passed.
    starts = {"init_from": None} if resume_from else {}
    job.spec = {**job.spec, "resume_from": resume_from, **starts}
    job.retries = [
        *(job.retries or []),
        {
            "attempt": ended,
            "state": state.value,
            "reason": error.get("reason"),
            "message": error.get("message"),
            "resume_from": resume_from,
            "at": now.isoformat(),
        },
    ]
    transition(job, JobState.QUEUED)
    of = f"attempt {job.attempt} of {attempts_allowed(job)}"
    start = f"resuming from {resume_from}" if resume_from else "from the start (no checkpoint yet)"
    job.queue_reason = f"{of}: retrying after {cause}, {start}"
    job.callback_token_hash = None  # the replaced attempt may report no more
    job.run_id = None
    job.eta_seconds = None
    message = error.get("message") or cause
    note = f"[trainyard] attempt {ended} {state.value}: {message}; retrying as {of}, {start}"
    session.add(
        JobEvent(
            job_id=job.id,
            seq=attempt_seq_offset(job.attempt),
            type="log",
            time=now,
            received_at=now,
            data={"line": note, "stream": "stderr"},
        )
    )
