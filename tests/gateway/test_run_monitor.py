"""The run monitor in process: a job whose service stops answering, a run that exited without
a result, and cancels, all through the one stop path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.fake_service import FakeService, dispatcher, queued_job, registry
from trainyard_gateway.cancellation import CANCELLED_BY_USER, cancel
from trainyard_gateway.db import Database, migrate
from trainyard_gateway.dispatcher import Dispatcher
from trainyard_gateway.models import Job, utcnow
from trainyard_wire.failures import FailureReason

UNREACHABLE_TIMEOUT = 30.0
HEARTBEAT_TIMEOUT = 60.0


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(database.engine)
    return database


def running(db: Database, service: FakeService, job_id: str = "job-1") -> Dispatcher:
    """A job started on the fake service and reported running; the dispatcher that started it."""
    with db.write() as session:
        session.add(queued_job(job_id))
    gateway = dispatcher(
        db,
        service,
        service_unreachable_timeout=UNREACHABLE_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
    )
    gateway.tick()
    with db.write() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.state == "starting"
        job.state, job.last_event_at = "running", utcnow()
    return gateway


def job(db: Database, job_id: str = "job-1") -> Job:
    with db.read() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def set_times(db: Database, *, away: float, silent: float) -> None:
    """Pretend the service has been away for `away` s and the run silent for `silent` s."""
    with db.write() as session:
        found = session.get(Job, "job-1")
        assert found is not None
        found.service_unreachable_since = utcnow() - timedelta(seconds=away)
        found.last_event_at = utcnow() - timedelta(seconds=silent)


def test_lost_for_an_unreachable_service_only_after_the_timeout_and_no_heartbeat(db) -> None:
    service = FakeService()
    gateway = running(db, service)
    service.down = True
    gateway.tick()
    marked = job(db)
    assert marked.state == "running" and marked.service_unreachable_since is not None

    # Away long enough, but train.py still reports: it trains on while its service restarts.
    set_times(db, away=UNREACHABLE_TIMEOUT + 5, silent=1)
    gateway.tick()
    assert job(db).state == "running"
    # Silent long enough, but the service has not been away for long.
    set_times(db, away=UNREACHABLE_TIMEOUT - 5, silent=HEARTBEAT_TIMEOUT + 5)
    gateway.tick()
    assert job(db).state == "running"

    set_times(db, away=UNREACHABLE_TIMEOUT + 5, silent=HEARTBEAT_TIMEOUT + 5)
    gateway.tick()
    lost = job(db)
    assert lost.state == "lost"
    assert lost.error is not None
    assert lost.error["reason"] == FailureReason.SERVICE_UNREACHABLE
    assert "has not answered for 35s" in lost.error["message"]


def test_a_service_that_answers_again_clears_the_mark(db) -> None:
    service = FakeService()
    gateway = running(db, service)
    service.down = True
    gateway.tick()
    assert job(db).service_unreachable_since is not None
    service.down = False
    gateway.tick()
    assert job(db).service_unreachable_since is None and job(db).state == "running"


def test_a_run_that_exited_without_a_result_fails_with_its_exit(db) -> None:
    service = FakeService()
    gateway = running(db, service)
    service.end("job-1", status="succeeded", exit_code=0)
    gateway.tick()
    failed = job(db)
    assert failed.state == "failed"
    assert failed.error == {
        "reason": FailureReason.EXITED_WITHOUT_RESULT,
        "message": "train.py exited with code 0 without reporting a result",
        "exit_code": 0,
        "oom": False,
        "log_tail": ["last line"],
    }


def test_a_cancel_the_service_missed_is_stopped_by_the_next_round(db) -> None:
    service = FakeService()
    gateway = running(db, service)
    service.down = True
    assert cancel(db, gateway.registry, "job-1") is False  # pending: the service is away
    pending = job(db)
    assert pending.state == "running" and pending.cancel_requested
    service.down = False
    gateway.tick()
    cancelled = job(db)
    assert cancelled.state == "cancelled" and cancelled.error == CANCELLED_BY_USER
    assert service.runs["job-1"]["stop_requested"]


def test_every_cancel_path_records_the_same_reason(db) -> None:
    service = FakeService()
    gateway = running(db, service, "job-running")
    with db.write() as session:
        session.add(queued_job("job-queued"))
    assert cancel(db, registry(service), "job-queued") is True
    assert cancel(db, registry(service), "job-running") is True
    # A run the service reports stopped (the stop reached it, its answer did not reach us).
    with db.write() as session:
        session.add(queued_job("job-stopped"))
    gateway.tick()
    service.runs["job-stopped"].update(status="stopped", ended_at=utcnow().isoformat())
    with db.write() as session:
        stopped = session.get(Job, "job-stopped")
        assert stopped is not None
        stopped.state = "running"
    gateway.tick()
    for job_id in ("job-queued", "job-running", "job-stopped"):
        ended = job(db, job_id)
        assert (ended.state, ended.error) == ("cancelled", CANCELLED_BY_USER), job_id
    assert CANCELLED_BY_USER == {"reason": "cancelled", "message": "cancelled by user"}


def test_one_call_per_service_follows_all_its_runs(db) -> None:
    """The runs' check asks each service once per round, however many runs it has; a round
    that a wake started (a job queued or ended) asks nothing about runs."""
    service = FakeService(capacity=3)
    gateway = running(db, service, "job-1")
    with db.write() as session:
        session.add_all([queued_job("job-2"), queued_job("job-3")])
    before = service.listings
    gateway.tick(follow=False)
    assert service.starts == ["job-1", "job-2", "job-3"] and service.listings == before
    gateway.tick()
    assert service.listings == before + 1
    service.end("job-2", status="failed", exit_code=3)
    gateway.tick()
    assert service.listings == before + 2
    assert job(db, "job-2").state == "failed" and job(db, "job-2").error["exit_code"] == 3
    assert {job(db, each).state for each in ("job-1", "job-3")} == {"running", "starting"}


def test_a_service_that_cannot_list_its_runs_is_asked_run_by_run(db) -> None:
    service = FakeService()
    gateway = running(db, service)
    service.refuse_listing = True
    service.end("job-1", status="failed", exit_code=2)
    gateway.tick()
    assert job(db).state == "failed" and job(db).error["exit_code"] == 2
