"""An export through the whole platform: a timm job trains on the real timm service, then
`POST /v1/jobs/{id}/export` makes an export job that goes through the same queue, service,
executor and event stream, ends with its parity report, and serves the ONNX file it stored."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.support.jobs import submit, wait_for
from trainyard_dev.synthetic import make_classification

pytestmark = pytest.mark.e2e


def test_a_trained_model_exports_to_onnx_with_its_parity_report(tmp_path, processes) -> None:
    _, timm_url = processes.service("timm", HEARTBEAT_INTERVAL="1")
    gateway = processes.gateway(TIMM_SERVICE_URL=timm_url)
    data = make_classification(tmp_path / "shapes", train_per_class=4, val_per_class=2, size=32)
    trained = submit(
        gateway.url,
        {
            "framework": "timm",
            "task": "classification",
            "model": "test_resnet",
            "dataset": {"uri": str(data), "format": "imagefolder"},
            "hyperparams": {"epochs": 1, "batch_size": 8, "image_size": 32},
            "resources": {"gpu": 0},
        },
    )
    done = wait_for(gateway.url, trained["id"], {"succeeded", "failed", "lost"}, timeout=600)
    assert done["state"] == "succeeded", done["error"]

    response = httpx.post(
        f"{gateway.url}/v1/jobs/{trained['id']}/export",
        json={"format": "onnx", "checkpoint": "best", "max_images": 4},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["kind"], created["source_job_id"]) == ("export", trained["id"])
    assert created["spec"]["source"]["key"].endswith(f"/jobs/{trained['id']}/best.pt")

    exported = wait_for(gateway.url, created["id"], {"succeeded", "failed", "lost"}, timeout=600)
    assert exported["state"] == "succeeded", exported["error"]
    parity = exported["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 4
    assert parity["top1_agreement"] == 1.0
    assert exported["metrics"]["parity_max_abs_diff"] == parity["max_abs_diff"]

    (artifact,) = exported["artifacts"]
    assert (artifact["name"], artifact["kind"]) == ("model.onnx", "export")
    body = httpx.get(f"{gateway.url}{artifact['download_url']}", timeout=60).content
    assert len(body) == artifact["size"]
    assert hashlib.sha256(body).hexdigest() == artifact["sha256"]

    # Only training resumes; an export job is no model to export.
    again = httpx.post(f"{gateway.url}/v1/jobs/{created['id']}/export", json={"format": "onnx"})
    assert again.status_code == 409 and again.json()["errors"][0]["allowed"] == ["train"]
