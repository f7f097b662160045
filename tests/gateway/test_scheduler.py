"""The scheduler in process: the dispatcher's rounds driven by `tick()` against a fake service.

Priority order, a start the service rejects, capacity held by two gateways on one job store,
and a finished job that starts the next one at once (the wake, not the next timed round).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.support.fake_service import (
    FakeService,
    dispatcher,
    queued_job,
    registry,
    settings,
    toy_spec,
)
from trainyard_gateway.app import create_app
from trainyard_gateway.db import Database, migrate
from trainyard_gateway.job_state import claim_queued
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.scheduler import busy_count, head_slots, weigher
from trainyard_wire.failures import FailureReason
from trainyard_wire.runs import Health


def add(db: Database, *jobs: Job) -> None:
    with db.write() as session:
        session.add_all(jobs)


def job(db: Database, job_id: str) -> Job:
    with db.read() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def test_higher_priority_first_then_oldest_first(job_store: Database) -> None:
    service = FakeService(capacity=10)
    start = utcnow() - timedelta(minutes=10)
    add(
        job_store,
        *(
            queued_job(job_id, priority=priority, created_at=start + timedelta(seconds=i))
            for i, (job_id, priority) in enumerate(
                [("old-low", 0), ("old-high", 5), ("mid-low", 0), ("new-high", 5), ("neg", -3)]
            )
        ),
    )
    dispatcher(job_store, service).tick()
    assert service.starts == ["old-high", "new-high", "old-low", "mid-low", "neg"]
    assert {job(job_store, each).state for each in service.starts} == {"starting"}


def test_a_start_the_service_rejects_fails_the_job_with_its_reasons(job_store: Database) -> None:
    service = FakeService()
    errors = [{"field": "options.depth", "message": "unknown field", "allowed": ["width"]}]
    service.reject = ("options.depth: unknown field (allowed: width)", errors)
    add(job_store, queued_job("job-rejected"))
    dispatcher(job_store, service).tick()
    rejected = job(job_store, "job-rejected")
    assert rejected.state == "failed"
    assert rejected.error == {
        "reason": FailureReason.REJECTED_BY_SERVICE,
        "message": "options.depth: unknown field (allowed: width)",
        "errors": errors,
    }
    assert rejected.finished_at is not None and service.runs == {}


def test_two_gateways_never_start_more_than_the_capacity(job_store: Database) -> None:
    capacity, jobs = 2, 7
    service = FakeService(capacity=capacity, start_delay=0.02)
    busiest = [0]

    def sample() -> None:  # as each start arrives, its job is claimed: count what is busy
        with job_store.read() as session:
            busiest[0] = max(busiest[0], busy_count(session, "toy"))

    service.on_start.append(sample)
    add(job_store, *(queued_job(f"job-{i}") for i in range(jobs)))
    gateways = [dispatcher(job_store, service), dispatcher(job_store, service)]
    for _ in range(jobs + 2):
        rounds = [threading.Thread(target=each.tick) for each in gateways]
        for each in rounds:
            each.start()
        for each in rounds:
            each.join()
        with job_store.read() as session:
            assert busy_count(session, "toy") <= capacity
        # One run ends per round, as its train.py would report.
        running = [run_id for run_id, run in service.runs.items() if run["ended_at"] is None]
        if running:
            service.end(running[0])
            with job_store.write() as session:
                ended = session.get(Job, running[0])
                assert ended is not None
                ended.state = "succeeded"
    assert busiest[0] == capacity
    assert sorted(service.starts) == sorted(f"job-{i}" for i in range(jobs))
    with job_store.read() as session:
        left = session.scalar(select(func.count()).select_from(Job).where(Job.state == "queued"))
    assert left == 0


@pytest.fixture
def gateway_app(tmp_path: Path) -> Iterator[tuple[FastAPI, FakeService]]:
    """The gateway app with its dispatcher thread running, rounds an hour apart."""
    service = FakeService(capacity=1)
    gateway_settings = settings(
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        data_dir=tmp_path / "data",
        allow_anonymous=True,
    )
    app = create_app(gateway_settings, registry=registry(service))
    gateway = app.state.gateway
    migrate(gateway.db.engine)
    gateway.dispatcher.start()
    yield app, service
    gateway.dispatcher.stop()
    gateway.db.engine.dispose()


async def _wait(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.02)
    return False


def test_a_finished_job_wakes_the_dispatcher(gateway_app: tuple[FastAPI, FakeService]) -> None:
    app, service = gateway_app
    asyncio.run(_finish_one_then_see_the_next_start(app, service))


async def _finish_one_then_see_the_next_start(app: FastAPI, service: FakeService) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:

        async def started(*job_ids: str) -> bool:
            return service.starts == list(job_ids)

        first = (await client.post("/v1/jobs", json=toy_spec())).json()
        assert await _wait(lambda: started(first["id"]))
        second = (await client.post("/v1/jobs", json=toy_spec())).json()

        async def waits_for_a_slot() -> bool:
            queue = (await client.get(f"/v1/jobs/{second['id']}")).json()["queue"] or {}
            return "free slot" in (queue.get("reason") or "")

        assert await _wait(waits_for_a_slot)

        # Rounds are an hour apart: only a wake after the first job's end starts the next.
        service.end(first["id"])
        events = [
            {"seq": 1, "type": "status", "state": "running"},
            {"seq": 2, "type": "status", "state": "succeeded"},
        ]
        answer = await client.post(
            f"/internal/v1/jobs/{first['id']}/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {service.tokens[first['id']]}"},
        )
        assert answer.status_code == 200, answer.text
        assert await _wait(lambda: started(first["id"], second["id"]))


def test_a_stored_spec_that_no_longer_validates_fails_the_job(job_store: Database) -> None:
    service = FakeService()
    stale = queued_job("job-stale")
    stale.spec = {**toy_spec(), "hyperparams": {"epochs": 1, "warmup": 3}}
    add(job_store, stale)
    dispatcher(job_store, service).tick()
    failed = job(job_store, "job-stale")
    assert failed.state == "failed" and failed.error is not None
    assert failed.error["reason"] == FailureReason.SPEC_UNSUPPORTED
    assert failed.error["errors"][0]["field"] == "hyperparams.warmup"
    assert service.starts == []


def test_a_service_still_full_after_a_final_report_is_asked_again_soon(
    gateway_app: tuple[FastAPI, FakeService],
) -> None:
    """A run that reported its end may still be exiting and hold its slot on the service. The
    next job starts once the service has room, without waiting for the next timed round (an
    hour), and is never refused meanwhile."""
    app, service = gateway_app
    asyncio.run(_report_the_end_before_the_exit(app, service))


async def _report_the_end_before_the_exit(app: FastAPI, service: FakeService) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:

        async def started(*job_ids: str) -> bool:
            return service.starts == list(job_ids)

        async def reason(job_id: str) -> str:
            queue = (await client.get(f"/v1/jobs/{job_id}")).json()["queue"] or {}
            return queue.get("reason") or ""

        first = (await client.post("/v1/jobs", json=toy_spec())).json()
        assert await _wait(lambda: started(first["id"]))
        second = (await client.post("/v1/jobs", json=toy_spec())).json()
        events = [
            {"seq": 1, "type": "status", "state": "running"},
            {"seq": 2, "type": "status", "state": "succeeded"},
        ]
        answer = await client.post(
            f"/internal/v1/jobs/{first['id']}/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {service.tokens[first['id']]}"},
        )
        assert answer.status_code == 200, answer.text

        async def exiting() -> bool:  # the service's count, not the job store's
            return "still runs 1 of 1 jobs (a run that reported its end is exiting)" in (
                await reason(second["id"])
            )

        assert await _wait(exiting)
        assert (await client.get(f"/v1/jobs/{second['id']}")).json()["state"] == "queued"
        service.end(first["id"])  # the process exits; nothing wakes the dispatcher
        assert await _wait(lambda: started(first["id"], second["id"]))
        assert service.refusals == 0


def test_one_round_claims_as_many_jobs_as_there_are_free_slots(job_store: Database) -> None:
    service = FakeService(capacity=3)
    add(job_store, *(queued_job(f"job-{i}", created_at=utcnow()) for i in range(5)))
    dispatcher(job_store, service).tick()
    assert service.starts == ["job-0", "job-1", "job-2"]
    with job_store.read() as session:
        states = dict(session.execute(select(Job.id, Job.state)).all())
        assert busy_count(session, "toy") == 3
    assert [states[f"job-{i}"] for i in range(5)] == ["starting"] * 3 + ["queued"] * 2


def test_a_claim_takes_jobs_by_their_slots_and_stops_at_one_that_does_not_fit(
    job_store: Database,
) -> None:
    """Slots as a service that counts processes counts them: the 2-process job behind a plain
    one does not fit in the 2 slots left, so it and the plain job behind it wait."""
    health = Health(
        status="ok",
        framework="toy",
        versions={},
        device="cpu",
        running=0,
        capacity=2,
        process_executors=["subprocess"],
        default_executor="subprocess",
    )
    start = utcnow() - timedelta(minutes=1)
    jobs = [queued_job(f"job-{i}", created_at=start + timedelta(seconds=i)) for i in range(3)]
    jobs[1].spec = {**jobs[1].spec, "distributed": {"processes_per_node": 2}}
    add(job_store, *jobs)
    weigh = weigher(health)
    assert [weigh(each.spec) for each in jobs] == [1, 2, 1]
    # More than the whole capacity: all of it (started when the service is idle, refused there).
    assert weigh({**jobs[1].spec, "distributed": {"processes_per_node": 4}}) == 2
    with job_store.write() as session:
        claimed = claim_queued(session, "toy", 8, "http://toy.test", 2, weigh)
    assert [(each.job_id, each.slots) for each in claimed] == [("job-0", 1)]
    with job_store.read() as session:
        assert busy_count(session, "toy", weigh) == 1
        assert head_slots(session, "toy", weigh) == 2
    # On a cluster (one slot per Job), the same jobs weigh one each.
    on_cluster = weigher(health.model_copy(update={"default_executor": "kubernetes"}))
    assert [on_cluster(each.spec) for each in jobs] == [1, 1, 1]
