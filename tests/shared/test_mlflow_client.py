"""The MLflow REST client against a real `mlflow server`, read back with the official client."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.support.processes import free_port
from tests.support.server_mlflow import MlflowServer
from trainyard_runtime.tracking import MlflowRestClient, TrackingError
from trainyard_runtime.tracking.mlflow_client import Metric, log_batches, now_ms


@pytest.fixture
def client(mlflow_server: MlflowServer) -> Iterator[MlflowRestClient]:
    with MlflowRestClient(mlflow_server.url) as rest:
        yield rest


def _new_run(client: MlflowRestClient) -> tuple[str, str]:
    experiment_id = client.get_or_create_experiment(f"test/{uuid.uuid4().hex[:8]}")
    return experiment_id, client.create_run(experiment_id, "r", {"origin": "test"}).run_id


def test_every_batch_respects_the_log_batch_limits() -> None:
    metrics = [Metric("m", float(i), i, 0) for i in range(2500)]
    params = {f"p{i}": "v" * 300 for i in range(250)}
    tags = {f"t{i}": "x" for i in range(150)}
    batches = list(log_batches(metrics, params, tags))
    for batch in batches:
        assert len(batch["params"]) <= 100 and len(batch["tags"]) <= 100
        assert len(batch["metrics"]) + len(batch["params"]) + len(batch["tags"]) <= 1000
        assert all(len(p["value"]) == 250 for p in batch["params"])
    assert sum(len(b["metrics"]) for b in batches) == 2500
    assert sum(len(b["params"]) for b in batches) == 250
    assert sum(len(b["tags"]) for b in batches) == 150


def test_large_batches_arrive_whole(
    client: MlflowRestClient,
    mlflow_server: MlflowServer,
) -> None:
    _, run_id = _new_run(client)
    at = now_ms()
    metrics = [Metric("val/mAP50-95", i / 10, i, at) for i in range(1200)]
    metrics.append(Metric("loss", math.nan, 1, at))
    params = {f"options.p{i}": "v" * 300 for i in range(120)}
    params["odd:key//x"] = "kept"
    client.log_batch(run_id, metrics=metrics, params=params)

    official = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    run = official.get_run(run_id)
    assert len(run.data.params) == 121
    assert run.data.params["options.p7"] == "v" * 250  # truncated to the oldest servers' limit
    assert run.data.params["odd_key/x"] == "kept"  # made a valid key
    history = official.get_metric_history(run_id, "val/mAP50-95")
    assert sorted((m.step, m.value) for m in history) == [(i, i / 10) for i in range(1200)]
    assert math.isnan(official.get_metric_history(run_id, "loss")[0].value)


def test_experiment_is_found_again_and_status_and_artifact_land(
    client: MlflowRestClient,
    mlflow_server: MlflowServer,
    tmp_path: Path,
) -> None:
    experiment_id, run_id = _new_run(client)
    official = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    name = official.get_experiment(experiment_id).name
    assert client.get_or_create_experiment(name) == experiment_id
    run = client.create_run(experiment_id, "second", {})
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w" * 1000)
    client.upload_artifact(run.artifact_uri, weights, "checkpoints/best.bin")
    client.update_run(run.run_id, "KILLED")
    assert official.get_run(run.run_id).info.status == "KILLED"
    listed = official.list_artifacts(run.run_id, "checkpoints")
    assert [(f.path, f.file_size) for f in listed] == [("checkpoints/best.bin", 1000)]
    assert official.get_run(run_id).info.status == "RUNNING"


def test_errors_say_what_failed(client: MlflowRestClient, tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match=r"refused POST /api/2\.0/mlflow/runs/update: 404"):
        client.update_run("0" * 32, "FINISHED")
    _, run_id = _new_run(client)
    client.log_batch(run_id, params={"a": "1"})
    with pytest.raises(TrackingError, match="Changing param values is not allowed"):
        client.log_batch(run_id, params={"a": "2"})
    with pytest.raises(TrackingError, match=r"could not read .*missing\.pt"):
        client.upload_artifact(
            f"mlflow-artifacts:/0/{run_id}/artifacts", tmp_path / "missing.pt", "x"
        )
    with pytest.raises(TrackingError, match="not served by the tracking server"):
        client.upload_artifact("s3://bucket/0/run/artifacts", tmp_path / "missing.pt", "x")


def test_unreachable_or_unusable_server_is_a_tracking_error() -> None:
    down = MlflowRestClient(f"http://127.0.0.1:{free_port()}", retry_wait=0.05)
    with down, pytest.raises(TrackingError, match="is unreachable"):
        down.get_or_create_experiment("x")
    local = MlflowRestClient("file:///tmp/mlruns")
    with local, pytest.raises(TrackingError, match="must be the http:// or https:// address"):
        local.get_or_create_experiment("x")
