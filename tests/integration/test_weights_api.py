"""Seeding pretrained weights through a real gateway and the real timm service: checked by
loading them in timm, stored in object storage with their manifest, listed, refused for
deletion while a job needs them, and taken by a pretrained job from storage (tier 2)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import client, submit, wait_for, wait_for_epoch
from tests.support.pretrained_runs import in_env
from trainyard_client.errors import ApiError
from trainyard_dev.synthetic import make_classification

MODEL = "test_resnet"  # timm's tiny ResNet


@pytest.fixture(scope="module")
def stack(module_processes):
    root = module_processes.root
    _, timm_url = module_processes.service(
        "timm",
        WEIGHTS_CACHE_DIR=str(root / "weights-cache"),
        HF_ENDPOINT="http://127.0.0.1:9",  # no hub: only seeded weights can serve
    )
    gateway = module_processes.gateway(TIMM_SERVICE_URL=timm_url)
    return gateway, root


def test_seeded_weights_are_checked_stored_needed_and_deleted(tmp_path: Path, stack):
    gateway, root = stack
    weights = tmp_path / "test_resnet.safetensors"
    in_env(
        "timm",
        "import sys, timm, safetensors.torch as st;"
        f"st.save_file(timm.create_model({MODEL!r}).state_dict(), sys.argv[1])",
        str(weights),
    )
    with client(gateway.url) as api:
        seeded = api.upload_weights(weights, "timm", MODEL)
        assert (seeded.framework, seeded.model, seeded.size) == (
            "timm",
            MODEL,
            weights.stat().st_size,
        )
        stored = root / "storage" / "models" / "pretrained" / "timm" / MODEL
        assert seeded.uri == stored.as_uri()
        manifest = json.loads((stored / "manifest.json").read_text())
        assert manifest["sha256"] == seeded.sha256 and manifest["source"].startswith("upload ")
        assert [w.id for w in api.list_weights()] == [seeded.id]

        # Weights timm cannot load for the model are refused, naming why.
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"not weights")
        with pytest.raises(ApiError) as refused:
            api.upload_weights(bad, "timm", MODEL)
        assert refused.value.status == 422 and "cannot load" in str(refused.value)

    unknown = httpx.post(
        f"{gateway.url}/v1/weights",
        files={"file": ("w.pt", b"x")},
        data={"framework": "caffe", "model": "m"},
        timeout=30,
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["errors"][0]["allowed"] == ["huggingface", "timm", "ultralytics"]
    missing = httpx.post(
        f"{gateway.url}/v1/weights", files={"file": ("w.pt", b"x")}, data={"framework": "timm"}
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "model"

    # A pretrained job takes the seeded weights from storage; while it runs they cannot go.
    data = make_classification(tmp_path / "shapes", train_per_class=2, val_per_class=1, size=32)
    job = submit(
        gateway.url,
        {
            "framework": "timm",
            "task": "classification",
            "model": MODEL,
            "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
            # Many epochs: it is still running when its weights are asked to go.
            "hyperparams": {"epochs": 100, "batch_size": 4, "image_size": 32, "pretrained": True},
            "resources": {"gpu": 0},
        },
    )
    running = wait_for_epoch(gateway.url, job["id"], 1, timeout=600)
    assert running["weights"]["tier"] == "storage", running
    assert running["weights"]["sha256"] == seeded.sha256
    conflict = httpx.delete(f"{gateway.url}/v1/weights/{seeded.id}", timeout=30)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["errors"][0]["jobs"] == [job["id"]]
    with client(gateway.url) as api:
        api.cancel_job(job["id"])
    wait_for(gateway.url, job["id"], {"cancelled"}, timeout=120)

    with client(gateway.url) as api:
        api.delete_weights(seeded.id)
        assert api.list_weights() == []
    assert not (stored / "manifest.json").exists()
    gone = httpx.delete(f"{gateway.url}/v1/weights/{seeded.id}", timeout=30)
    assert gone.status_code == 404 and "GET /v1/weights" in gone.json()["message"]
