"""A deep queue against small services: all jobs finish, none is lost, capacity is never exceeded.

A toy service taking 2 runs at once, and 200 quick jobs queued at once (some with priority).
A sampler reads the job store while they run.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
from sqlalchemy import create_engine, text

from tests.support.datasets import tiny_dataset
from tests.support.jobs import get_job, submit, toy_spec, wait_for, wait_for_epoch
from tests.support.processes import framework_python

JOBS = 200
CAPACITY = 2


def test_two_hundred_jobs_against_capacity_two(tmp_path, processes, internal_headers):
    _, service = processes.toy_service(MAX_CONCURRENT_RUNS=str(CAPACITY))
    gateway = processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service}",
        DISPATCH_INTERVAL="0.1",
        MAX_QUEUED_JOBS_PER_PROJECT=str(JOBS),
    )
    dataset = tiny_dataset(tmp_path / "ds")
    specs = [
        toy_spec(
            dataset,
            priority=5 if i % 10 == 0 else 0,
            hyperparams={"epochs": 1},
            options={"epoch_seconds": 0.0, "lines_per_epoch": 1},
        )
        for i in range(JOBS)
    ]
    engine = create_engine(gateway.database_url)
    most_busy: dict[str, int] = {"toy": 0}
    done = threading.Event()

    def sample() -> None:  # the job store's view of what is starting or running, per framework
        while not done.is_set():
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT framework, count(*) FROM jobs "
                        "WHERE state IN ('starting', 'running') GROUP BY framework"
                    )
                ).all()
            for framework, busy in rows:
                most_busy[framework] = max(most_busy[framework], busy)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            jobs = list(pool.map(lambda s: submit(gateway.url, s), specs))
        waiting = httpx.get(f"{gateway.url}/v1/jobs/{jobs[-1]['id']}", timeout=30).json()
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                states = dict(
                    conn.execute(text("SELECT state, count(*) FROM jobs GROUP BY state")).all()
                )
            if states.get("succeeded", 0) + states.get("failed", 0) + states.get("lost", 0) == JOBS:
                break
            time.sleep(0.5)
    finally:
        done.set()
        sampler.join()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, state FROM jobs")).all()
    engine.dispose()

    assert sorted({state for _, state in rows}) == ["succeeded"], states
    assert len(rows) == JOBS
    # Each job ran exactly once (a start the service refused at capacity is retried, not run).
    runs = httpx.get(f"{service}/v1/runs", headers=internal_headers, timeout=30).json()
    assert sorted(run["run_id"] for run in runs) == sorted(job_id for job_id, _ in rows)
    assert most_busy["toy"] == CAPACITY, f"capacity exceeded, or never reached: {most_busy}"
    # While it waited, the last job said where it stood and why.
    if waiting["state"] == "queued":
        assert waiting["queue"]["position"] >= 1
        assert "free slot" in waiting["queue"]["reason"] or waiting["queue"]["reason"] is None


def test_a_distributed_job_takes_a_slot_per_process(tmp_path, processes, internal_headers):
    """The service counts its capacity in processes: a job of 2 processes fills a service of
    capacity 2, and the gateway counts it so too (the plain job behind it waits in the queue,
    never started only to be refused). The toy runs on the timm interpreter (torchrun)."""
    hold = tmp_path / "go-on"
    _, service = processes.service(
        "toy",
        python=framework_python("timm"),
        module="toy_framework",
        HEARTBEAT_INTERVAL="0.5",
        MAX_CONCURRENT_RUNS="2",
        TOY_DISTRIBUTED="1",
    )
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service}", DISPATCH_INTERVAL="0.1")
    dataset = tiny_dataset(tmp_path / "ds")
    quick = {"epoch_seconds": 0.0, "lines_per_epoch": 1}
    distributed = submit(
        gateway.url,
        toy_spec(
            dataset,
            hyperparams={"epochs": 2},
            distributed={"processes_per_node": 2},
            options={**quick, "hold_file": str(hold)},
        ),
    )
    plain = submit(gateway.url, toy_spec(dataset, hyperparams={"epochs": 1}, options=quick))

    wait_for_epoch(gateway.url, distributed["id"], 1, timeout=180)
    waiting = get_job(gateway.url, plain["id"])
    assert waiting["state"] == "queued", waiting
    assert waiting["queue"]["reason"] == (
        "waiting for a free slot: the toy service runs at most 2 processes at once"
    )
    health = httpx.get(f"{service}/health", timeout=30).json()
    assert (health["running"], health["capacity"]) == (2, 2)
    runs = httpx.get(f"{service}/v1/runs", headers=internal_headers, timeout=30).json()
    assert [run["run_id"] for run in runs] == [distributed["id"]]

    hold.touch()
    first = wait_for(gateway.url, distributed["id"], {"succeeded", "failed"}, timeout=180)
    second = wait_for(gateway.url, plain["id"], {"succeeded", "failed"}, timeout=180)
    assert (first["state"], second["state"]) == ("succeeded", "succeeded"), (first, second)
    started, ended = (
        datetime.fromisoformat(t) for t in (second["started_at"], first["finished_at"])
    )
    assert started >= ended
