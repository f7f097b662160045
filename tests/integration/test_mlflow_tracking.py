"""Each training job as one MLflow run, checked with the official client against a real server."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow.entities import Run

from tests.support.datasets import tiny_dataset
from tests.support.jobs import (
    submit,
    toy_spec,
    wait_for,
    wait_for_epoch,
    wait_until_checkpointed,
)
from tests.support.processes import Processes, free_port
from tests.support.server_mlflow import MlflowServer


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    # Tracking does not depend on the job store: SQLite only, not the PostgreSQL variant too.
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture(scope="module")
def tracked_gateway(
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_server: MlflowServer,
) -> Iterator[str]:
    """A gateway and a toy service whose runs are tracked in the MLflow server."""
    procs = Processes(tmp_path_factory.mktemp("tracked"))
    _, service_url = procs.toy_service(MLFLOW_TRACKING_URI=mlflow_server.url)
    yield procs.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}").url
    procs.stop_all()


def _run_of(client: mlflow.MlflowClient, experiment: str, job_id: str) -> Run:
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment}"
    runs = client.search_runs(
        [found.experiment_id], filter_string=f"tags.`trainyard.job_id` = '{job_id}'"
    )
    assert len(runs) == 1, runs
    return runs[0]


def test_job_is_one_mlflow_run_with_params_metrics_and_checkpoints(
    tmp_path: Path,
    tracked_gateway: str,
    mlflow_server: MlflowServer,
) -> None:
    dataset = tiny_dataset(tmp_path / "ds")
    created = submit(tracked_gateway, toy_spec(dataset, name="tracked run"))
    job = wait_for(tracked_gateway, created["id"], {"succeeded", "failed"}, timeout=60)
    assert job["state"] == "succeeded", job

    client = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    run = _run_of(client, "trainyard/default", job["id"])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "tracked run"
    tags = run.data.tags
    assert tags["trainyard.framework"] == "toy"
    assert tags["trainyard.model"] == "counter"
    assert tags["trainyard.task"] == "classification"
    params = run.data.params
    assert params["hyperparams.epochs"] == "3"
    assert params["hyperparams.learning_rate"] == "0.001"
    assert params["dataset.uri"] == str(dataset)
    assert params["framework"] == "toy"

    # MLflow's history per metric is exactly what the gateway recorded per epoch.
    series = httpx.get(f"{tracked_gateway}/v1/jobs/{job['id']}/metrics").json()["series"]
    assert set(series) == {"loss", "accuracy"}
    for key, points in series.items():
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted((m.step, m.value) for m in history) == [tuple(p) for p in points]

    # The checkpoints are artifacts with the same bytes as in Trainyard's storage.
    listed = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id, "checkpoints")}
    assert listed == {"checkpoints/best.bin": 4096, "checkpoints/last.bin": 4096}
    local = client.download_artifacts(run.info.run_id, "checkpoints/best.bin", str(tmp_path))
    best = next(a for a in job["artifacts"] if a["name"] == "best.bin")
    assert hashlib.sha256(Path(local).read_bytes()).hexdigest() == best["sha256"]

    experiment_id = run.info.experiment_id
    assert job["mlflow"] == {
        "run_id": run.info.run_id,
        "experiment_id": experiment_id,
        "url": f"{mlflow_server.url}/#/experiments/{experiment_id}/runs/{run.info.run_id}",
        "error": None,
    }


def test_failed_job_marks_its_mlflow_run_failed(
    tmp_path: Path,
    tracked_gateway: str,
    mlflow_server: MlflowServer,
) -> None:
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), options={"fail_at_epoch": 2})
    created = submit(tracked_gateway, spec)
    job = wait_for(tracked_gateway, created["id"], {"succeeded", "failed"}, timeout=60)
    assert job["state"] == "failed", job

    client = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    run = _run_of(client, "trainyard/default", job["id"])
    assert run.info.status == "FAILED"
    assert run.info.run_name == job["id"]  # no name in the spec
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (1, 0.5)
    ]
    assert job["mlflow"]["run_id"] == run.info.run_id and job["mlflow"]["error"] is None


def test_training_goes_on_when_mlflow_is_down(tmp_path: Path, processes: Processes) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    _, service_url = processes.toy_service(MLFLOW_TRACKING_URI=down)
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    created = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds")))
    job = wait_for(gateway.url, created["id"], {"succeeded", "failed"}, timeout=60)

    assert job["state"] == "succeeded", job
    assert job["metrics"]["loss"] == 0.125
    assert {a["name"] for a in job["artifacts"]} == {"best.bin", "last.bin"}
    tracking = job["mlflow"]
    assert tracking["run_id"] is None and tracking["url"] is None
    assert "could not start the MLflow run" in tracking["error"]
    assert f"MLflow at {down} is unreachable" in tracking["error"]
    logs = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/logs").json()["lines"]
    assert any("MLflow tracking: could not start" in line["line"] for line in logs)


def test_cancelled_job_marks_its_mlflow_run_killed(
    tmp_path: Path,
    tracked_gateway: str,
    mlflow_server: MlflowServer,
) -> None:
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 500}, options={"epoch_seconds": 0.2}
    )
    created = submit(tracked_gateway, spec)
    wait_for_epoch(tracked_gateway, created["id"])
    response = httpx.post(f"{tracked_gateway}/v1/jobs/{created['id']}/cancel")
    assert response.status_code == 200, response.text

    client = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    run = _run_of(client, "trainyard/default", created["id"])
    deadline = time.monotonic() + 20  # train.py closes the run after its SIGTERM
    while run.info.status == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
        run = client.get_run(run.info.run_id)
    assert run.info.status == "KILLED"
    assert run.info.end_time is not None


def test_a_retried_job_goes_on_in_its_mlflow_run(
    tmp_path: Path, processes: Processes, mlflow_server: MlflowServer
) -> None:
    tracked = {"MLFLOW_TRACKING_URI": mlflow_server.url, "CHECKPOINT_INTERVAL_SECONDS": "0"}
    service, service_url = processes.toy_service(**tracked)
    gateway = processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service_url}", HEARTBEAT_TIMEOUT="2"
    )
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"),
        hyperparams={"epochs": 5},
        options={"epoch_seconds": 0.8, "lines_per_epoch": 1},  # killed inside epoch 3
        max_retries=1,
    )
    job = submit(gateway.url, spec)
    wait_until_checkpointed(gateway.url, job["id"], epoch=2)

    # The machine goes away with the run, which can neither report nor close its MLflow run.
    work = processes.root / "data-toy" / "services" / "toy" / "runs" / job["id"] / "work"
    service.stop(signal.SIGKILL)
    os.kill(int((work / "pid").read_text()), signal.SIGKILL)
    processes.toy_service(
        port=int(service_url.rsplit(":", 1)[1]),
        TRAINYARD_DATA_DIR=str(tmp_path / "replacement"),
        **tracked,
    )

    done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"}, timeout=60)
    assert done["state"] == "succeeded" and done["attempt"] == 2, done
    client = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    run = _run_of(client, "trainyard/default", job["id"])  # one run for both attempts
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(e, 0.5**e) for e in range(1, 6)]
    assert done["mlflow"]["run_id"] == run.info.run_id and done["mlflow"]["error"] is None
