"""The retry policy on a real (SQLite) job store: which endings become another attempt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from trainyard_gateway.db import Database, WriteSession, migrate
from trainyard_gateway.event_ingest import ingest
from trainyard_gateway.models import Job, JobEvent, utcnow
from trainyard_gateway.retries import ATTEMPT_SEQ_SPAN, continued_mlflow_run, end_or_retry
from trainyard_wire.events import ArtifactEvent, LogEvent, StatusEvent, TrackingEvent
from trainyard_wire.states import JobState

SHA = "0" * 64
OOM = {"reason": "oom_killed", "message": "the kernel's OOM killer ended the run"}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[WriteSession]:
    db = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(db.engine)
    with db.write() as session:
        yield session


def running_job(session: WriteSession, max_retries: int, **spec: Any) -> Job:
    now = utcnow()
    job = Job(
        id="job-0123456789abcdef",
        framework="toy",
        task="classification",
        model="counter",
        project="p",
        spec={"framework": "toy", "max_retries": max_retries, "resume_from": None, **spec},
        state=JobState.RUNNING.value,
        created_at=now,
        updated_at=now,
        callback_token_hash="a" * 64,
        run_id="job-0123456789abcdef",
    )
    session.add(job)
    session.flush()
    return job


def report_checkpoint(session: WriteSession, job: Job, seq: int) -> None:
    uri = f"file:///s/checkpoints/projects/p/jobs/{job.id}/last.pt"
    ingest(session, job, [ArtifactEvent(seq=seq, name="last.pt", uri=uri, size=1, sha256=SHA)])


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (JobState.LOST, {"reason": "lost", "message": "no heartbeat"}),
        (JobState.FAILED, OOM),
        (JobState.FAILED, {"reason": "evicted", "message": "node pressure"}),
    ],
)
def test_a_lost_oom_killed_or_evicted_run_is_queued_again(session, state, error) -> None:
    job = running_job(session, max_retries=2)
    report_checkpoint(session, job, seq=7)

    assert end_or_retry(session, job, state, error) is True
    assert job.state == "queued" and job.attempt == 2 and job.finished_at is None
    key = f"checkpoints/projects/p/jobs/{job.id}/last.pt"
    assert job.spec["resume_from"] == key
    assert job.callback_token_hash is None and job.run_id is None  # the old run may not report
    (retry,) = job.retries or []
    assert (retry["attempt"], retry["state"], retry["reason"]) == (1, state.value, error["reason"])
    assert "attempt 2 of 3" in (job.queue_reason or "")
    note = session.scalars(select(JobEvent).where(JobEvent.type == "log")).one()
    assert note.seq == ATTEMPT_SEQ_SPAN and "retrying as attempt 2 of 3" in note.data["line"]


def test_a_distributed_run_that_reports_a_lost_rank_is_queued_again(session) -> None:
    """The launcher reports the group's failure itself: a lost rank restarts the group."""
    job = running_job(session, max_retries=1)
    report_checkpoint(session, job, seq=3)
    lost = "rank 1 killed by signal SIGKILL; the other ranks were stopped"
    ingest(session, job, [StatusEvent(seq=4, state="failed", reason="rank_lost", message=lost)])
    assert job.state == "queued" and job.attempt == 2
    assert job.spec["resume_from"] == f"checkpoints/projects/p/jobs/{job.id}/last.pt"
    (retry,) = job.retries or []
    assert (retry["reason"], retry["message"]) == ("rank_lost", lost)

    # Once retries are spent, the same report ends the job.
    ingest(session, job, [StatusEvent(seq=5, state="running")])
    ingest(session, job, [StatusEvent(seq=6, state="failed", reason="rank_lost", message=lost)])
    assert job.state == "failed" and job.error["reason"] == "rank_lost"


def test_other_endings_and_spent_retries_end_the_job(session) -> None:
    job = running_job(session, max_retries=1)
    error = {"reason": "exception", "message": "a bug"}
    assert end_or_retry(session, job, JobState.FAILED, error) is False
    assert job.state == "failed" and job.attempt == 1

    session.delete(job)
    session.flush()
    job = running_job(session, max_retries=1)
    assert end_or_retry(session, job, JobState.FAILED, OOM) is True
    job.state = JobState.RUNNING.value  # the second attempt runs, and meets the OOM killer too
    assert end_or_retry(session, job, JobState.FAILED, OOM) is False
    assert job.state == "failed" and job.attempt == 2 and job.error == OOM


def test_a_cancel_asked_for_wins_over_a_retry(session) -> None:
    job = running_job(session, max_retries=3)
    job.cancel_requested = True
    assert end_or_retry(session, job, JobState.LOST, {"reason": "lost"}) is False
    assert job.state == "lost"


def test_without_a_checkpoint_the_next_attempt_starts_where_the_spec_did(session) -> None:
    source = "checkpoints/projects/p/jobs/job-earlier/last.pt"
    job = running_job(session, max_retries=1, resume_from=source)
    assert end_or_retry(session, job, JobState.LOST, {"reason": "lost"}) is True
    assert job.spec["resume_from"] == source


def test_each_attempt_numbers_its_events_apart(session) -> None:
    job = running_job(session, max_retries=1)
    first = ingest(session, job, [LogEvent(seq=1, line="attempt one")])
    end_or_retry(session, job, JobState.LOST, {"reason": "lost"})
    job.state = JobState.RUNNING.value
    second = ingest(session, job, [LogEvent(seq=1, line="attempt two")])
    assert (first.stored, second.stored, second.last_seq) == (1, 1, 1)
    lines = session.scalars(
        select(JobEvent.data).where(JobEvent.job_id == job.id).order_by(JobEvent.seq)
    ).all()
    assert [line["line"] for line in lines][0::2] == ["attempt one", "attempt two"]
    assert "retrying" in lines[1]["line"]


def test_a_retry_goes_on_in_the_mlflow_run_of_its_job(session) -> None:
    job = running_job(session, max_retries=1)
    run_id = "0123456789abcdef" * 2
    ingest(session, job, [TrackingEvent(seq=1, run_id=run_id, experiment_id="7", url="u")])
    assert continued_mlflow_run(job.attempt, job.mlflow) is None  # attempt 1 makes its own

    assert end_or_retry(session, job, JobState.LOST, {"reason": "lost"}) is True
    assert job.mlflow is not None and job.mlflow["run_id"] == run_id  # kept for the next attempt
    assert continued_mlflow_run(job.attempt, job.mlflow) == run_id


@pytest.mark.parametrize(
    "mlflow",
    [
        None,  # not tracked
        {"run_id": None, "error": "could not start the MLflow run: unreachable"},
        {"run_id": "../../api/2.0/mlflow/runs/delete"},  # train.py's word is not trusted
        {"run_id": "0123456789ABCDEF" * 2},
    ],
)
def test_a_retry_without_a_usable_run_id_starts_a_new_run(mlflow) -> None:
    assert continued_mlflow_run(2, mlflow) is None
