"""End to end, as in production: the gateway on PostgreSQL, datasets and checkpoints in S3,
runs in MLflow, and the three real training services each training one real job."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from tests.support.datasets import zip_of
from tests.support.jobs import submit, wait_for
from trainyard_dev.synthetic import make_classification, make_yolo

pytestmark = pytest.mark.e2e

FRAMEWORKS = ("timm", "ultralytics", "huggingface")


def upload_dataset(gateway: str, folder: Path, name: str) -> dict:
    response = httpx.post(
        f"{gateway}/v1/datasets",
        params={"name": name},
        content=zip_of(folder),
        headers={"content-type": "application/zip"},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    return response.json()


def tiny_specs(shapes: dict, boxes: dict) -> dict[str, dict]:
    return {
        # timm reads the dataset straight from its s3:// location…
        "timm": {
            "framework": "timm",
            "task": "classification",
            "model": "resnet18",
            "dataset": {"uri": shapes["uri"], "format": "imagefolder"},
            "hyperparams": {"epochs": 2, "batch_size": 8, "image_size": 32},
        },
        # …the others name the uploaded datasets by id.
        "ultralytics": {
            "framework": "ultralytics",
            "task": "detection",
            "model": "yolo11n.yaml",
            "dataset": {"uri": boxes["id"], "format": "yolo"},
            "hyperparams": {"epochs": 2, "batch_size": 4, "image_size": 64},
        },
        "huggingface": {
            "framework": "huggingface",
            "task": "classification",
            "model": "vit",
            "dataset": {"uri": shapes["id"], "format": "imagefolder"},
            "hyperparams": {"epochs": 2, "batch_size": 8, "image_size": 32},
            "options": {
                "config_overrides": {
                    "hidden_size": 32,
                    "num_hidden_layers": 1,
                    "num_attention_heads": 2,
                    "intermediate_size": 64,
                    "patch_size": 8,
                }
            },
        },
    }


def test_each_framework_trains_from_object_storage_into_mlflow(
    tmp_path, processes, s3_server, postgres_server, mlflow_server
):
    storage = {**s3_server.env(), "STORAGE_URI": f"s3://{s3_server.bucket}/e2e-{uuid.uuid4().hex}"}
    urls = {}
    for framework in FRAMEWORKS:
        _, urls[framework] = processes.service(
            framework,
            HEARTBEAT_INTERVAL="1",
            MLFLOW_TRACKING_URI=mlflow_server.url,
            DATASET_CACHE_DIR=str(tmp_path / "dataset-cache"),
            **storage,
        )
    gateway = processes.gateway(
        DATABASE_URL=postgres_server.new_database(),
        TIMM_SERVICE_URL=urls["timm"],
        ULTRALYTICS_SERVICE_URL=urls["ultralytics"],
        HUGGINGFACE_SERVICE_URL=urls["huggingface"],
        **storage,
    )
    frameworks = httpx.get(f"{gateway.url}/v1/frameworks", timeout=30).json()
    assert {f["framework"]: f["healthy"] for f in frameworks} == dict.fromkeys(FRAMEWORKS, True)

    data = tmp_path / "data"
    shapes = upload_dataset(
        gateway.url,
        make_classification(data / "cls", train_per_class=6, val_per_class=2, size=32),
        "shapes",
    )
    boxes = upload_dataset(
        gateway.url,
        make_yolo(data / "det", "detection", train_images=8, val_images=4, size=64),
        "boxes",
    )
    assert shapes["uri"].startswith(f"s3://{s3_server.bucket}/")

    jobs = {fw: submit(gateway.url, spec) for fw, spec in tiny_specs(shapes, boxes).items()}
    s3 = s3_server.client()
    mlflow = MlflowClient(mlflow_server.url)
    for framework, job in jobs.items():
        done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"}, timeout=600)
        assert done["state"] == "succeeded", (framework, done["error"])
        epochs = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/metrics").json()["epochs"]
        assert [e["epoch"] for e in epochs] == [1, 2], framework

        # best and last are in the bucket, and the presigned links give the same bytes.
        artifacts = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/artifacts").json()
        assert {a["name"].split(".")[0] for a in artifacts} == {"best", "last"}, framework
        for artifact in artifacts:
            bucket, _, key = artifact["uri"].removeprefix("s3://").partition("/")
            head = s3.head_object(Bucket=bucket, Key=key)
            assert head["ContentLength"] == artifact["size"]
            assert head["Metadata"]["sha256"] == artifact["sha256"]
            assert artifact["download_url"].startswith(s3_server.endpoint)
            body = httpx.get(artifact["download_url"], timeout=60).content
            assert hashlib.sha256(body).hexdigest() == artifact["sha256"], framework

        # The MLflow run holds the same per-epoch metrics as the gateway.
        run_id = done["mlflow"]["run_id"]
        assert run_id and done["mlflow"]["error"] is None, done["mlflow"]
        run = mlflow.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["trainyard.job_id"] == job["id"]
        for name in epochs[0]["metrics"]:
            history = mlflow.get_metric_history(run_id, name)
            got = sorted((m.step, m.value) for m in history)
            assert [step for step, _ in got] == [1, 2], (framework, name)
            expected = [e["metrics"][name] for e in epochs]
            assert [value for _, value in got] == pytest.approx(expected), (framework, name)
