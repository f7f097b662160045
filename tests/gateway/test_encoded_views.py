"""Kept job views: byte for byte what the views built each time encode, and never stale — a
change to the row, to a job made from it or to the queue ahead gives the new answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from trainyard_gateway.db import Database
from trainyard_gateway.encoded_views import EncodedViews, job_json, page_json
from trainyard_gateway.errors import JobNotFound
from trainyard_gateway.job_queries import get_job, job_view, job_views, list_jobs
from trainyard_gateway.models import Job
from trainyard_wire.jobs import JobList

BASE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
FILTERS = {
    "state": None,
    "framework": None,
    "project": None,
    "kind": None,
    "limit": 50,
    "cursor": None,
}


def _add(db: Database, job_id: str, minute: int, state: str, **columns) -> None:
    spec = {"framework": "toy", "hyperparams": {"epochs": 4}, "project": "p"}
    with db.write() as session:
        session.add(
            Job(
                id=job_id,
                framework="toy",
                task="classification",
                model="m",
                project="p",
                spec=spec,
                state=state,
                created_at=BASE + timedelta(minutes=minute),
                updated_at=BASE + timedelta(minutes=minute),
                **columns,
            )
        )


def _built(db: Database, job_id: str) -> bytes:
    with db.read() as session:
        return job_view(session, get_job(session, job_id)).model_dump_json().encode()


def _built_page(db: Database) -> bytes:
    with db.read() as session:
        jobs, cursor = list_jobs(session.connection(), **FILTERS)
        return (
            JobList(items=job_views(session, jobs), next_cursor=cursor).model_dump_json().encode()
        )


def _kept(db: Database, views: EncodedViews, job_id: str) -> bytes:
    return job_json(views, db, job_id)


def _kept_page(db: Database, views: EncodedViews, **filters) -> bytes:
    return page_json(views, db, **{**FILTERS, **filters})


def test_kept_views_are_the_built_ones_and_follow_every_change(job_store: Database) -> None:
    db, views = job_store, EncodedViews()
    _add(db, "job-a", 1, "succeeded", epoch=4, metrics={"top1": 0.5}, kind="train")
    _add(db, "job-b", 2, "running", epoch=1)
    _add(db, "job-q1", 3, "queued")
    _add(db, "job-q2", 4, "queued")
    for _ in range(2):  # built, then kept
        for job_id in ("job-a", "job-b", "job-q1", "job-q2"):
            assert _kept(db, views, job_id) == _built(db, job_id)
        assert _kept_page(db, views) == _built_page(db)
    assert views.hits > 0 and len(views) == 2  # queued jobs are never kept

    # A change to the row: a new epoch, a column no timestamp follows.
    with db.write() as session:
        running = get_job(session, "job-b")
        running.epoch = 2
        running.service_unreachable_since = BASE
    assert json.loads(_kept(db, views, "job-b"))["progress"]["epoch"] == 2
    assert _kept(db, views, "job-b") == _built(db, "job-b")

    # A job made from job-a appears on job-a, then its state change too.
    _add(db, "job-e", 5, "queued", kind="export", source_job_id="job-a")
    derived = json.loads(_kept(db, views, "job-a"))["derived"]
    assert derived == [{"id": "job-e", "kind": "export", "state": "queued"}]
    with db.write() as session:
        get_job(session, "job-e").state = "running"
    assert json.loads(_kept(db, views, "job-a"))["derived"][0]["state"] == "running"
    assert _kept_page(db, views) == _built_page(db)

    # The queue ahead of a queued job changes its position.
    assert json.loads(_kept(db, views, "job-q2"))["queue"]["position"] == 2
    with db.write() as session:
        get_job(session, "job-q1").state = "cancelled"
    assert json.loads(_kept(db, views, "job-q2"))["queue"]["position"] == 1
    assert _kept(db, views, "job-q2") == _built(db, "job-q2")


def test_pages_keep_their_cursor_and_filters(job_store: Database) -> None:
    db, views = job_store, EncodedViews()
    for i in range(5):
        _add(db, f"job-{i}", i, "succeeded" if i % 2 else "failed")
    first = json.loads(_kept_page(db, views, limit=2))
    assert [j["id"] for j in first["items"]] == ["job-4", "job-3"]
    second = json.loads(_kept_page(db, views, limit=2, cursor=first["next_cursor"]))
    assert [j["id"] for j in second["items"]] == ["job-2", "job-1"]
    failed = json.loads(_kept_page(db, views, state="failed"))
    assert [j["id"] for j in failed["items"]] == ["job-4", "job-2", "job-0"]
    assert failed["next_cursor"] is None


def test_an_unknown_job_is_not_found_and_the_kept_answers_are_bounded(job_store) -> None:
    db, views = job_store, EncodedViews(capacity=2)
    with pytest.raises(JobNotFound):
        _kept(db, views, "job-none")
    for i in range(4):
        _add(db, f"job-{i}", i, "succeeded")
        _kept(db, views, f"job-{i}")
    assert len(views) == 2


def test_a_change_made_outside_the_orm_changes_the_row_version_and_the_answer(
    job_store: Database,
) -> None:
    """The database counts the version itself (a trigger): a plain UPDATE statement, as an
    operator's SQL would make, is followed like the gateway's own writes."""
    db, views = job_store, EncodedViews()
    _add(db, "job-a", 1, "succeeded", metrics={"top1": 0.5})
    assert _kept(db, views, "job-a") == _built(db, "job-a")
    versions = []
    for top1 in (0.6, 0.7):
        with db.engine.begin() as conn:
            conn.execute(
                update(Job.__table__).where(Job.id == "job-a").values(metrics={"top1": top1})
            )
            versions.append(conn.scalar(select(Job.row_version).where(Job.id == "job-a")))
        assert json.loads(_kept(db, views, "job-a"))["metrics"] == {"top1": top1}
        assert _kept(db, views, "job-a") == _built(db, "job-a")
    assert versions[1] == versions[0] + 1 and versions[0] >= 1


def test_reads_run_on_the_event_loop_only_on_a_sqlite_file_in_wal_mode(job_store) -> None:
    """A reader of a WAL-mode SQLite file never waits for a writer; PostgreSQL answers over the
    network: its reads go to worker threads."""
    with job_store.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar() if _sqlite(conn) else None
    assert job_store.reads_block_briefly is (mode == "wal")
    assert job_store.reads_block_briefly is (job_store.engine.dialect.name == "sqlite")


def _sqlite(conn) -> bool:
    return conn.dialect.name == "sqlite"
