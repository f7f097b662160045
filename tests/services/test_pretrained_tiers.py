"""Pretrained weights through the three tiers in real training runs, per framework.

The public hubs cannot be reached from CI: tier 3 is a local hub server (tests/support/
hub_server.py) serving weights the test makes with the framework itself. Each framework:
job 1 takes the weights from the hub and puts them in storage; job 2 (another process with an
empty cache, the hub stopped) takes them from storage; job 3 from its local cache. A corrupt
copy in storage is discarded and the weights come from the hub again, never loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.hub_server import HubServer
from tests.support.pretrained_runs import assert_tiers, in_env, three_runs, weights_event
from tests.support.train_py import run_train_py
from trainyard_dev.synthetic import make_classification, make_yolo

TIMM_MODEL = "test_resnet"  # timm's own tiny ResNet; timm names its hub repository
TIMM_REPO = "timm/test_resnet.r160_in1k"


def timm_job(data: Path) -> dict[str, Any]:
    return {
        "framework": "timm",
        "task": "classification",
        "model": TIMM_MODEL,
        "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
        "hyperparams": {"epochs": 1, "batch_size": 8, "image_size": 32, "pretrained": True},
        "resources": {"gpu": 0},
        "project": "tests",
    }


@pytest.fixture
def timm_hub(tmp_path: Path):
    repo = tmp_path / "hub" / TIMM_REPO
    repo.mkdir(parents=True)
    in_env(
        "timm",
        "import sys, timm, safetensors.torch as st;"
        f"st.save_file(timm.create_model({TIMM_MODEL!r}).state_dict(), sys.argv[1])",
        str(repo / "model.safetensors"),
    )
    hub = HubServer().start()
    hub.add_repo(TIMM_REPO, repo)
    yield hub
    hub.stop()


@pytest.mark.e2e
def test_timm_weights_come_from_the_hub_then_storage_then_the_cache(tmp_path, timm_hub):
    data = make_classification(tmp_path / "shapes", train_per_class=2, val_per_class=1, size=32)
    env = {"HF_ENDPOINT": timm_hub.url, "HF_TOKEN": "hf_test-token"}
    events = three_runs(tmp_path, "timm", timm_job(data), timm_hub, env)
    assert_tiers(tmp_path, "timm", TIMM_MODEL, events)
    assert f"/{TIMM_REPO}/resolve/main/model.safetensors" in timm_hub.files_fetched()
    assert "Bearer hf_test-token" in timm_hub.authorizations
    assert (
        events[0]["source"]
        == f"{timm_hub.url}/{TIMM_REPO} (model.safetensors or pytorch_model.bin)"
    )


@pytest.mark.e2e
def test_timm_corrupt_weights_in_storage_are_fetched_again(tmp_path, timm_hub):
    data = make_classification(tmp_path / "shapes", train_per_class=2, val_per_class=1, size=32)
    job = timm_job(data)
    env = {"HF_ENDPOINT": timm_hub.url, "WEIGHTS_CACHE_DIR": str(tmp_path / "cache-a")}
    code, events, output, _ = run_train_py("timm", tmp_path, "job-1", job, env=env)
    assert code == 0, output
    good = weights_event(events, output)
    stored = tmp_path / "storage/models/pretrained/timm" / TIMM_MODEL / "model.safetensors"
    stored.write_bytes(b"\0" * stored.stat().st_size)  # same size, other content
    env["WEIGHTS_CACHE_DIR"] = str(tmp_path / "cache-b")
    code, events, output, _ = run_train_py("timm", tmp_path, "job-2", job, env=env)
    assert code == 0, output
    again = weights_event(events, output)
    assert again["tier"] == "source" and again["sha256"] == good["sha256"]
    assert any("discarded the copy" in note and "sha256" in note for note in again["tried"])
    assert stored.read_bytes() != b"\0" * stored.stat().st_size  # storage holds good weights again


YOLO_MODEL = "yolo11n.yaml"  # its weights are the release asset yolo11n.pt


@pytest.mark.e2e
def test_ultralytics_weights_come_from_the_assets_then_storage_then_the_cache(tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    in_env(
        "ultralytics",
        "import os, sys; os.environ['YOLO_OFFLINE'] = '1';"
        "os.environ['YOLO_CONFIG_DIR'] = sys.argv[2];"
        "from ultralytics import YOLO; YOLO('yolo11n.yaml').save(sys.argv[1])",
        str(assets / "yolo11n.pt"),
        str(tmp_path / "yolo-config"),
    )
    hub = HubServer().start()
    hub.add_asset(assets / "yolo11n.pt")
    data = make_yolo(tmp_path / "shapes", "detection", train_images=2, val_images=1, size=64)
    job = {
        "framework": "ultralytics",
        "task": "detection",
        "model": YOLO_MODEL,
        "dataset": {"uri": data.as_uri(), "format": "yolo"},
        "hyperparams": {"epochs": 1, "batch_size": 2, "image_size": 64, "pretrained": True},
        "resources": {"gpu": 0},
        "project": "tests",
    }
    env = {"ULTRALYTICS_ASSETS_URL": f"{hub.url}/", "TRAINYARD_WEIGHTS_DIR": str(tmp_path / "none")}
    try:
        events = three_runs(tmp_path, "ultralytics", job, hub, env)
    finally:
        hub.stop()
    assert_tiers(tmp_path, "ultralytics", "yolo11n", events)
    assert events[0]["source"] == f"{hub.url}/yolo11n.pt"
    assert hub.files_fetched() == ["/yolo11n.pt"]
