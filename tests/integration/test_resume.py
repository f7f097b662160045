"""Resume and retry: a job continues from its last checkpoint, never repeating an epoch."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from tests.support.datasets import tiny_dataset
from tests.support.jobs import get_job, submit, toy_spec, wait_for, wait_until_checkpointed
from tests.support.processes import Gateway, Processes
from trainyard_dev.launcher import ManagedProcess
from trainyard_gateway.models import JobEvent

FIVE_EPOCHS: dict[str, Any] = {
    "hyperparams": {"epochs": 5},
    # Long enough that a stop lands inside epoch 3, after epoch 2's checkpoint.
    "options": {"epoch_seconds": 0.8, "lines_per_epoch": 1},
}


def metric_epochs(gateway: Gateway, job_id: str) -> list[int]:
    """Every metric event stored for the job, in order (GET …/metrics keeps one per epoch)."""
    engine = create_engine(gateway.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(JobEvent.data)
                .where(JobEvent.job_id == job_id, JobEvent.type == "metric")
                .order_by(JobEvent.seq)
            )
            return [data["epoch"] for (data,) in rows]
    finally:
        engine.dispose()


@dataclass
class Stack:
    processes: Processes
    service: ManagedProcess
    service_url: str
    gateway: Gateway
    dataset: Path
    finished: dict[str, Any]  # a job that trained one epoch and succeeded


@pytest.fixture(scope="module")
def stack(module_processes: Processes, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """A toy service that checkpoints every epoch, its gateway (runs its service no longer
    knows are lost after 2 s without heartbeats), a dataset and a finished job."""
    service, service_url = module_processes.toy_service(CHECKPOINT_INTERVAL_SECONDS="0")
    gateway = module_processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service_url}", HEARTBEAT_TIMEOUT="2"
    )
    dataset = tiny_dataset(tmp_path_factory.mktemp("resume") / "ds")
    finished = submit(gateway.url, toy_spec(dataset, hyperparams={"epochs": 1}))
    return Stack(module_processes, service, service_url, gateway, dataset, finished)


def finished_job(stack: Stack) -> dict[str, Any]:
    return wait_for(stack.gateway.url, stack.finished["id"], {"succeeded"})


def test_a_cancelled_job_resumes_after_its_last_checkpoint(stack: Stack) -> None:
    gateway, dataset = stack.gateway, stack.dataset
    source = submit(gateway.url, toy_spec(dataset, **FIVE_EPOCHS))
    wait_until_checkpointed(gateway.url, source["id"], epoch=2)
    assert httpx.post(f"{gateway.url}/v1/jobs/{source['id']}/cancel").status_code == 200

    response = httpx.post(f"{gateway.url}/v1/jobs/{source['id']}/resume")
    assert response.status_code == 201, response.text
    resumed = response.json()
    assert resumed["id"] != source["id"] and resumed["resumed_from"] == source["id"]
    key = f"checkpoints/projects/default/jobs/{source['id']}/last.bin"
    assert resumed["spec"]["resume_from"] == key
    assert {k: v for k, v in resumed["spec"].items() if k != "resume_from"} == {
        k: v for k, v in source["spec"].items() if k != "resume_from"
    }

    # Epoch 2, unless a very busy machine let the cancel land after epoch 3's checkpoint.
    checkpoint = (stack.processes.root / "storage" / key).read_bytes()
    assert checkpoint in (b"epoch 2", b"epoch 3")
    done = int(checkpoint.split()[1])

    job = wait_for(gateway.url, resumed["id"], {"succeeded", "failed"}, timeout=60)
    assert job["state"] == "succeeded", job
    assert get_job(gateway.url, resumed["id"])["resumed_from"] == source["id"]
    assert job["progress"]["epoch"] == job["progress"]["total_epochs"] == 5
    assert metric_epochs(gateway, resumed["id"]) == list(range(done + 1, 6))  # 3, 4, 5
    series = httpx.get(f"{gateway.url}/v1/jobs/{resumed['id']}/metrics").json()["series"]
    assert series["loss"][-1] == [5, 0.03125]  # the loss went on falling from the checkpoint
    lines = httpx.get(f"{gateway.url}/v1/jobs/{resumed['id']}/logs", params={"tail": 50}).json()
    printed = [line["line"] for line in lines["lines"]]
    assert f"epoch {done} step 0" not in printed and f"epoch {done + 1} step 0" in printed


def test_only_an_ended_job_with_a_checkpoint_can_be_resumed(stack: Stack) -> None:
    gateway, dataset = stack.gateway, stack.dataset
    # Fails in its first epoch, before any checkpoint.
    failed = submit(gateway.url, toy_spec(dataset, options={"fail_at_epoch": 1}))
    refused = httpx.post(f"{gateway.url}/v1/jobs/{finished_job(stack)['id']}/resume")
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "conflict"
    assert "succeeded" in body["message"]
    assert body["errors"][0]["allowed"] == ["failed", "cancelled", "lost"]

    wait_for(gateway.url, failed["id"], {"failed"})
    refused = httpx.post(f"{gateway.url}/v1/jobs/{failed['id']}/resume")
    assert refused.status_code == 409
    assert "no checkpoint" in refused.json()["message"]

    assert httpx.post(f"{gateway.url}/v1/jobs/job-nosuchjob/resume").status_code == 404


@pytest.mark.parametrize(
    "resume_from",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "checkpoints/../../../etc/passwd",
        "file:///etc/passwd",
        "datasets/ds-0123/train/a.png",
        "checkpoints/projects/default/jobs/job-0000000000000000/last.bin",
        "job-0000000000000000",
    ],
)
def test_resume_from_must_name_a_checkpoint_in_storage(stack: Stack, resume_from: str) -> None:
    gateway, dataset = stack.gateway, stack.dataset
    response = httpx.post(
        f"{gateway.url}/v1/jobs", json={**toy_spec(dataset), "resume_from": resume_from}
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "resume_from"
    assert any("checkpoints/" in allowed for allowed in error["allowed"])


def test_resume_from_a_checkpoint_uri_links_its_job(stack: Stack) -> None:
    gateway, dataset = stack.gateway, stack.dataset
    source = finished_job(stack)
    (last,) = [a for a in source["artifacts"] if a["name"] == "last.bin"]
    more = toy_spec(dataset, hyperparams={"epochs": 2}, resume_from=last["uri"])
    created = submit(gateway.url, more)
    assert created["resumed_from"] == source["id"]
    assert created["spec"]["resume_from"] == (
        f"checkpoints/projects/default/jobs/{source['id']}/last.bin"
    )
    job = wait_for(gateway.url, created["id"], {"succeeded", "failed"})
    assert job["state"] == "succeeded", job
    assert metric_epochs(gateway, created["id"]) == [2]


def test_a_lost_run_is_retried_as_the_same_job_from_its_checkpoint(
    stack: Stack, tmp_path: Path
) -> None:
    gateway = stack.gateway
    job = submit(gateway.url, toy_spec(stack.dataset, **FIVE_EPOCHS, max_retries=1))
    wait_until_checkpointed(gateway.url, job["id"], epoch=2)

    # The machine goes away: the service and its run die at once, no report is sent.
    run = stack.processes.root / "data-toy" / "services" / "toy" / "runs" / job["id"]
    train_pid = int((run / "work" / "pid").read_text())
    stack.service.stop(signal.SIGKILL)
    os.kill(train_pid, signal.SIGKILL)
    # A replacement service at the same address that never heard of the run.
    stack.service, _ = stack.processes.toy_service(
        port=int(stack.service_url.rsplit(":", 1)[1]),
        TRAINYARD_DATA_DIR=str(tmp_path / "replacement"),
        CHECKPOINT_INTERVAL_SECONDS="0",
    )

    done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"}, timeout=60)
    assert done["state"] == "succeeded", done
    assert done["attempt"] == 2
    (retry,) = done["retries"]
    assert retry["attempt"] == 1 and retry["state"] == "lost" and retry["reason"] == "lost"
    assert retry["resume_from"] == f"checkpoints/projects/default/jobs/{job['id']}/last.bin"
    assert metric_epochs(gateway, job["id"]) == [1, 2, 3, 4, 5]
    assert done["metrics"]["loss"] == 0.03125
    lines = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/logs", params={"tail": 100}).json()
    notes = [line["line"] for line in lines["lines"] if "retrying as" in line["line"]]
    assert len(notes) == 1 and "attempt 1 lost" in notes[0] and "attempt 2 of 2" in notes[0]


def test_a_service_starts_a_new_run_for_a_job_whose_run_ended(stack: Stack, internal_headers):
    """How a retried attempt starts where the service still knows the run that failed."""
    start = {
        "job_id": "job-started-twice",
        "spec": toy_spec(stack.dataset, hyperparams={"epochs": 1}, options={"epoch_seconds": 0.5}),
        "callback_url": f"{stack.gateway.url}/internal/v1/jobs/job-started-twice/events",
        "callback_token": "not-a-job-of-this-gateway",  # its events are refused; it runs anyway
    }
    with httpx.Client(base_url=stack.service_url, headers=internal_headers, timeout=30) as client:
        first = client.post("/v1/runs", json=start)
        assert first.status_code == 201, first.text
        assert client.post("/v1/runs", json=start).status_code == 200  # running: the same run
        wait_run_ended(client, "job-started-twice")
        again = client.post("/v1/runs", json=start)
        assert again.status_code == 201, again.text
        assert again.json()["started_at"] > first.json()["started_at"]
        assert again.json()["ended_at"] is None
        wait_run_ended(client, "job-started-twice")  # none left behind, reporting to no one


def wait_run_ended(client: httpx.Client, run_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.get(f"/v1/runs/{run_id}").json()["ended_at"] is None:
        assert time.monotonic() < deadline, f"run {run_id} never ended"
        time.sleep(0.1)
