"""Storing event batches on both job stores: each event once, whatever overlaps a retry sends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support.job_rows import job_row
from trainyard_gateway.db import Database
from trainyard_gateway.event_ingest import ingest
from trainyard_gateway.job_queries import job_view, job_views, logged_artifacts
from trainyard_gateway.models import Job, JobEvent
from trainyard_wire.events import EventBatch


@pytest.fixture
def db(job_store: Database) -> Database:
    with job_store.write() as session:
        session.add(job_row("job-1"))
    return job_store


def _post(db: Database, events: list[dict]) -> dict:
    batch = EventBatch.model_validate({"events": events})
    with db.write() as session:
        job = session.get(Job, "job-1", with_for_update=True)
        assert job is not None
        return ingest(session, job, batch.events).model_dump()


def _log(seq: int) -> dict:
    return {"seq": seq, "type": "log", "time": "2026-11-22T10:00:00Z", "line": f"line {seq}"}


def _metric(seq: int, epoch: int) -> dict:
    return {
        "seq": seq,
        "type": "metric",
        "time": "2026-11-22T10:00:00Z",
        "epoch": epoch,
        "total_epochs": 3,
        "metrics": {"loss": 1.0 / epoch},
    }


def test_overlapping_batches_store_each_event_once(db):
    assert _post(db, [_log(s) for s in range(1, 101)]) == {
        "stored": 100,
        "duplicates": 0,
        "last_seq": 100,
    }
    # A resend that overlaps the stored ones: only 101..150 are new.
    assert _post(db, [_log(s) for s in range(51, 151)]) == {
        "stored": 50,
        "duplicates": 50,
        "last_seq": 150,
    }
    # A batch naming one seq twice counts it once.
    assert _post(db, [_log(151), _log(151), _log(3)]) == {
        "stored": 1,
        "duplicates": 2,
        "last_seq": 151,
    }
    with db.read() as session:
        rows = session.execute(
            select(JobEvent.seq, JobEvent.data).where(JobEvent.job_id == "job-1")
        ).all()
    assert sorted(seq for seq, _ in rows) == list(range(1, 152))
    assert {seq: data["line"] for seq, data in rows}[120] == "line 120"


def test_only_new_events_change_the_job(db):
    _post(db, [_metric(1, 1), _metric(2, 2)])
    # A late resend of epoch 1 must not move the job back.
    _post(db, [_metric(1, 1), _log(3)])
    with db.read() as session:
        job = session.get(Job, "job-1")
        assert job is not None
        assert job.epoch == 2
        assert job.metrics == {"loss": 0.5}


def _weights(seq: int, tier: str, sha: str) -> dict:
    return {
        "seq": seq,
        "type": "weights",
        "framework": "toy",
        "model": "counter",
        "tier": tier,
        "sha256": sha * 64,
        "size": 1234,
        "source": "http://hub.local/org/counter",
        "tried": ["cache: no entry"],
    }


def test_the_job_view_shows_the_last_weights_event_of_a_pretrained_job(db):
    _post(db, [_weights(1, "storage", "a"), _weights(2, "cache", "b")])
    with db.read() as session:
        job = session.get(Job, "job-1")
        assert job is not None
        assert job_view(session, job).weights is None  # the spec does not ask for weights
    with db.write() as session:
        job = session.get(Job, "job-1")
        assert job is not None
        job.spec = {"hyperparams": {"pretrained": True}}
    with db.read() as session:
        job = session.get(Job, "job-1")
        assert job is not None
        (listed,) = job_views(session, [job])
        view = job_view(session, job)
    assert view.weights is not None and listed.weights == view.weights
    assert (view.weights.tier, view.weights.sha256, view.weights.size) == ("cache", "b" * 64, 1234)


def _artifact(seq: int, name: str, size: int, minute: int) -> dict:
    return {
        "seq": seq,
        "type": "artifact",
        "time": f"2026-11-22T10:{minute:02d}:00Z",
        "name": name,
        "kind": "checkpoint",
        "uri": f"file:///storage/{name}.{seq}",
        "size": size,
        "sha256": f"{seq:064d}",
    }


def test_the_row_keeps_the_artifacts_and_early_stop_the_event_log_says(db):
    """Reading a job reads its row alone: what it keeps equals what its events say, whatever
    order the batches came in, repeats and re-uploads of a name included."""
    _post(db, [_artifact(5, "last.bin", 50, 5), _artifact(2, "best.bin", 20, 2), _log(6)])
    _post(db, [_artifact(1, "last.bin", 10, 1), _artifact(5, "last.bin", 50, 5)])
    _post(db, [_artifact(8, "best.bin", 80, 8), _log(9)])
    stopped = {"epoch": 3, "best_epoch": 1, "reason": "loss did not improve for 2 epochs"}
    _post(
        db,
        [
            {"seq": 10, "type": "status", "state": "running"},
            {"seq": 11, "type": "status", "state": "succeeded", "stopped_early": stopped},
        ],
    )
    with db.write() as session:
        job = session.get(Job, "job-1")
        assert job is not None
        job.spec = {"early_stopping": {"metric": "loss", "patience": 2}}
    with db.read() as session:
        job = session.get(Job, "job-1")
        assert job is not None
        assert job.artifacts == logged_artifacts(session, "job-1")
        view = job_view(session, job)
    # Each name once, in order of its first upload (seq 1 then 2), with its latest upload.
    assert [(a.name, a.size) for a in view.artifacts] == [("last.bin", 50), ("best.bin", 80)]
    assert view.artifacts[0].download_url == "/v1/jobs/job-1/artifacts/last.bin"
    assert view.artifacts[1].created_at.isoformat() == "2026-11-22T10:08:00+00:00"
    assert view.stopped_early is not None
    assert view.stopped_early.model_dump() == stopped
