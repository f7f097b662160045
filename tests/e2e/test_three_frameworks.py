"""End to end: the real gateway and the three real training services, one real job each."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from platform_helpers import submit, wait_for
from trainyard_shared.datasets.synthetic import make_classification, make_yolo

pytestmark = pytest.mark.e2e

FRAMEWORKS = ("timm", "ultralytics", "huggingface")


def tiny_specs(data: Path) -> dict[str, dict]:
    shapes = make_classification(data / "cls", train_per_class=6, val_per_class=2, size=32)
    boxes = make_yolo(data / "det", "detection", train_images=8, val_images=4, size=64)
    classification = {"uri": str(shapes), "format": "imagefolder"}
    return {
        "timm": {
            "framework": "timm",
            "task": "classification",
            "model": "resnet18",
            "dataset": classification,
            "hyperparams": {"epochs": 2, "batch_size": 8, "image_size": 32},
        },
        "ultralytics": {
            "framework": "ultralytics",
            "task": "detection",
            "model": "yolo11n.yaml",
            "dataset": {"uri": str(boxes), "format": "yolo"},
            "hyperparams": {"epochs": 2, "batch_size": 4, "image_size": 64},
        },
        "huggingface": {
            "framework": "huggingface",
            "task": "classification",
            "model": "vit",
            "dataset": classification,
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


def test_one_job_per_framework_trains_to_success(tmp_path, processes):
    urls = {}
    for framework in FRAMEWORKS:
        _, urls[framework] = processes.service(framework, HEARTBEAT_INTERVAL="1")
    gateway = processes.gateway(
        TIMM_SERVICE_URL=urls["timm"],
        ULTRALYTICS_SERVICE_URL=urls["ultralytics"],
        HUGGINGFACE_SERVICE_URL=urls["huggingface"],
    )
    frameworks = httpx.get(f"{gateway.url}/v1/frameworks", timeout=30).json()
    assert {f["framework"]: f["healthy"] for f in frameworks} == dict.fromkeys(FRAMEWORKS, True)

    jobs = {fw: submit(gateway.url, spec) for fw, spec in tiny_specs(tmp_path / "data").items()}
    for framework, job in jobs.items():
        done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"}, timeout=600)
        assert done["state"] == "succeeded", (framework, done["error"])
        metrics = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/metrics").json()
        assert [e["epoch"] for e in metrics["epochs"]] == [1, 2], framework
        assert all(e["metrics"] for e in metrics["epochs"])
        names = {a["name"].split(".")[0] for a in done["artifacts"]}
        assert names == {"best", "last"}, framework
        for artifact in done["artifacts"]:
            path = Path(artifact["uri"].removeprefix("file://"))
            assert path.is_file() and path.stat().st_size == artifact["size"] > 0
