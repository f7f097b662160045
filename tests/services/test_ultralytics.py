"""The ultralytics service for real: train.py as a subprocess on tiny synthetic data, and HTTP.

The test process has no torch: everything ultralytics runs in `.venvs/ultralytics` through
subprocesses. Each training run pays a fixed ~15-20 s on 2 cores for importing torch and
ultralytics; the training itself is a few seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.train_py import (
    STALLING_EPOCHS,
    assert_stopped_after_epoch_3,
    checkpoint,
    of_type,
    run_train_py,
    stalling,
)
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_classification, make_yolo

REPO = Path(__file__).resolve().parents[2]
PYTHON = environment_python(REPO, "ultralytics")
MODELS = {
    "detection": "yolo11n.yaml",
    "segmentation": "yolo11n-seg.yaml",
    "pose": "yolo11n-pose.yaml",
    "classification": "yolo11n-cls.yaml",
}
BOX = {"val/precision", "val/recall", "val/mAP50", "val/mAP50-95"}
DETECTION_METRICS = BOX | {
    "train/box_loss",
    "train/cls_loss",
    "train/dfl_loss",
    "val/box_loss",
    "val/cls_loss",
    "val/dfl_loss",
    "train/lr",
}
TASK_METRICS = {
    "segmentation": DETECTION_METRICS
    | {"train/seg_loss", "val/seg_loss"}
    | {m.replace("val/", "val/mask_") for m in BOX},
    "pose": DETECTION_METRICS
    | {"train/pose_loss", "train/kobj_loss", "val/pose_loss", "val/kobj_loss"}
    | {m.replace("val/", "val/pose_") for m in BOX},
}
CLASSIFICATION_METRICS = {
    "train/loss",
    "val/loss",
    "val/top1_accuracy",
    "val/top5_accuracy",
    "train/lr",
}


def spec(task: str, data: Path, **overrides: Any) -> dict[str, Any]:
    size = 32 if task == "classification" else 64
    hyperparams = {"epochs": 2, "batch_size": 4, "image_size": size, "learning_rate": 0.01}
    hyperparams.update(overrides.pop("hyperparams", {}))
    return {
        "framework": "ultralytics",
        "task": task,
        "model": MODELS.get(task, "yolo11n.yaml"),
        "dataset": {
            "uri": data.as_uri(),
            "format": "imagefolder" if task == "classification" else "yolo",
        },
        "hyperparams": hyperparams,
        "resources": {"gpu": 0},
        "project": "tests",
        **overrides,
    }


def run_train(tmp: Path, job_id: str, job_spec: dict[str, Any], timeout: float = 240, **env: str):
    """Run train.py with no CALLBACK_URL, in `tmp` (so ./weights is empty).

    Returns (exit code, events, output, seconds).
    """
    (tmp / "no-weights").mkdir(exist_ok=True)
    return run_train_py(
        "ultralytics",
        tmp,
        job_id,
        job_spec,
        timeout=timeout,
        cwd=tmp,
        env={
            "TRAINYARD_WEIGHTS_DIR": str(tmp / "no-weights"),
            **env,
        },
    )


def assert_trained(tmp: Path, job_id: str, result, epochs: int, names: set[str]) -> None:
    code, events, output, _ = result
    assert code == 0, output
    statuses = of_type(events, "status")
    assert [s["state"] for s in statuses] == ["running", "succeeded"], output
    metrics = of_type(events, "metric")
    assert [m["epoch"] for m in metrics] == list(range(1, epochs + 1)), output
    for m in metrics:
        assert m["total_epochs"] == epochs
        assert names <= set(m["metrics"]), sorted(m["metrics"])
        assert all(isinstance(v, float) for v in m["metrics"].values()), m["metrics"]
    assert {a["name"] for a in of_type(events, "artifact")} == {"best.pt", "last.pt"}
    for name in ("best.pt", "last.pt"):
        assert checkpoint(tmp, job_id, name).stat().st_size > 100_000
    final = statuses[-1]["metrics"]
    assert final and set(final) <= names and not any(k.startswith("train/") for k in final)


@pytest.mark.e2e
def test_detection_end_to_end(tmp_path: Path) -> None:
    data = make_yolo(tmp_path / "shapes", "detection", train_images=8, val_images=4, size=64)
    job = spec(
        "detection",
        data,
        hyperparams={"optimizer": "sgd", "weight_decay": 5e-4, "seed": 3},
        options={"cos_lr": True, "close_mosaic": 1, "nbs": 4, "warmup_epochs": 0},
    )
    result = run_train(tmp_path, "job-det", job)
    print(f"detection, 2 epochs: {result[3]:.1f}s")
    assert_trained(tmp_path, "job-det", result, 2, DETECTION_METRICS)
    metrics = of_type(result[1], "metric")
    assert set(metrics[0]["metrics"]) == DETECTION_METRICS
    assert metrics[0]["metrics"]["train/lr"] == pytest.approx(0.01)  # no warmup
    assert 0.0 <= metrics[-1]["metrics"]["val/mAP50-95"] <= metrics[-1]["metrics"]["val/mAP50"]
    assert "Arial" not in result[2]  # no font download attempted


@pytest.mark.e2e
def test_segmentation_and_pose_end_to_end(tmp_path: Path) -> None:
    """One epoch each, one after the other (parallel runs only fight over the 2 cores)."""
    for task in ("segmentation", "pose"):
        data = make_yolo(tmp_path / task, task, train_images=8, val_images=4, size=64)
        job = spec(task, data, hyperparams={"epochs": 1, "optimizer": "adam"})
        result = run_train(tmp_path, f"job-{task}", job)
        print(f"{task}, 1 epoch: {result[3]:.1f}s")
        assert_trained(tmp_path, f"job-{task}", result, 1, TASK_METRICS[task])


@pytest.fixture(scope="module")
def classified(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("ultralytics-cls")
    data = make_classification(tmp / "shapes", train_per_class=6, val_per_class=2, size=32)
    job = spec("classification", data, hyperparams={"optimizer": "adamw"})
    return tmp, data, run_train(tmp, "job-cls", job)


@pytest.mark.e2e
def test_classification_end_to_end(classified) -> None:
    tmp, _, result = classified
    print(f"classification, 2 epochs: {result[3]:.1f}s")
    assert_trained(tmp, "job-cls", result, 2, CLASSIFICATION_METRICS)
    for m in of_type(result[1], "metric"):
        assert set(m["metrics"]) == CLASSIFICATION_METRICS
        top1, top5 = m["metrics"]["val/top1_accuracy"], m["metrics"]["val/top5_accuracy"]
        assert 0.0 <= top1 <= top5 <= 1.0


@pytest.mark.e2e
def test_pretrained_from_local_weights(classified, tmp_path: Path) -> None:
    """A previous job's best.pt, placed as yolo11n-cls.pt in $TRAINYARD_WEIGHTS_DIR."""
    tmp, data, result = classified
    assert result[0] == 0, result[2]
    weights = tmp_path / "weights-dir"
    weights.mkdir()
    shutil.copyfile(checkpoint(tmp, "job-cls", "best.pt"), weights / "yolo11n-cls.pt")
    job = spec(
        "classification",
        data,
        model="yolo11n-cls.pt",
        hyperparams={"epochs": 1, "pretrained": True},
        options={"freeze": 2, "dropout": 0.1},
    )
    result = run_train(tmp_path, "job-ft", job, TRAINYARD_WEIGHTS_DIR=str(weights))
    print(f"classification from local weights, 1 epoch: {result[3]:.1f}s")
    assert_trained(tmp_path, "job-ft", result, 1, CLASSIFICATION_METRICS)
    assert f"pretrained weights: {weights / 'yolo11n-cls.pt'}" in result[2]
    assert "Transferred" in result[2]  # ultralytics loaded the weights into the model


def checkpoint_record(path: Path) -> dict[str, Any]:
    """A checkpoint's epochs trained, metrics and a digest of its weights (ultralytics saves the
    date in it: the file's own sha256 differs from run to run)."""
    code = (
        "import hashlib, json, sys, torch; c = torch.load(sys.argv[1], weights_only=False); "
        "h = hashlib.sha256(); "
        "[h.update(v.float().numpy().tobytes()) for v in c['model'].state_dict().values()]; "
        "print(json.dumps({'epochs': c['train_results']['epoch'], "
        "'train_metrics': c['train_metrics'], 'weights': h.hexdigest()}))"
    )
    out = subprocess.run(
        [str(PYTHON), "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "YOLO_CONFIG_DIR": str(path.parent / "ultralytics-config")},
    )
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.e2e
def test_early_stopping_ends_the_run_with_the_best_checkpoint_of_its_epochs(
    tmp_path: Path,
) -> None:
    """val/loss never falls by 10: the 6-epoch run stops after epoch 3, and its best.pt is the
    one a 3-epoch run without early stopping ends with (constant learning rate, same seed)."""
    data = make_classification(tmp_path / "shapes", train_per_class=4, val_per_class=2, size=32)
    # Nothing that depends on the number of epochs: a constant learning rate, no warmup, and a
    # step every batch (ultralytics caps gradient accumulation at all the run's batches).
    constant = {"options": {"lrf": 1.0, "warmup_epochs": 0, "nbs": 4}}
    stopped = run_train(
        tmp_path,
        "job-stopped",
        spec(
            "classification",
            data,
            hyperparams={"epochs": STALLING_EPOCHS, "seed": 3},
            early_stopping=stalling("val/loss"),
            **constant,
        ),
    )
    assert_stopped_after_epoch_3(stopped, "val/loss")
    assert {a["name"] for a in of_type(stopped[1], "artifact")} == {"best.pt", "last.pt"}
    last = checkpoint_record(checkpoint(tmp_path, "job-stopped", "last.pt"))
    assert last["epochs"] == [1, 2, 3]

    full = run_train(
        tmp_path,
        "job-3",
        spec("classification", data, hyperparams={"epochs": 3, "seed": 3}, **constant),
    )
    assert full[0] == 0, full[2]
    # The same training up to epoch 3: the same metrics, the same best checkpoint.
    assert [m["metrics"] for m in of_type(full[1], "metric")] == [
        m["metrics"] for m in of_type(stopped[1], "metric")
    ]
    assert checkpoint_record(checkpoint(tmp_path, "job-stopped", "best.pt")) == checkpoint_record(
        checkpoint(tmp_path, "job-3", "best.pt")
    )


@pytest.mark.e2e
def test_a_dataset_named_by_its_data_yaml(tmp_path: Path) -> None:
    """As ultralytics users name data sets: the yaml, elsewhere than its images, its `path:`
    relative to its own folder, its splits relative to that."""
    data = make_yolo(tmp_path / "shapes", "detection", train_images=4, val_images=2, size=32)
    names = yaml.safe_load((data / "data.yaml").read_text())["names"]
    named = tmp_path / "configs" / "shapes.yaml"
    named.parent.mkdir()
    named.write_text(
        yaml.safe_dump(
            {"path": "../shapes", "train": "images/train", "val": "images/val", "names": names}
        )
    )
    job = spec("detection", data, hyperparams={"epochs": 1, "image_size": 32})
    job["dataset"]["uri"] = str(named)
    result = run_train(tmp_path, "job-yaml", job)
    print(f"detection from a data.yaml path, 1 epoch: {result[3]:.1f}s")
    assert_trained(tmp_path, "job-yaml", result, 1, DETECTION_METRICS)


@pytest.mark.e2e
def test_pretrained_with_no_tier_able_to_serve_fails_fast(tmp_path: Path) -> None:
    data = make_yolo(tmp_path / "shapes", "detection", train_images=2, val_images=1, size=64)
    job = spec("detection", data, hyperparams={"pretrained": True})
    code, events, output, seconds = run_train(
        tmp_path,
        "job-pre",
        job,
        timeout=120,
        WEIGHTS_CACHE_DIR=str(tmp_path / "weights-cache"),
        ULTRALYTICS_ASSETS_URL="http://127.0.0.1:9/assets",  # nothing listens on this port
    )
    print(f"pretrained unavailable: {seconds:.1f}s")
    assert code == 1, output
    final = of_type(events, "status")[-1]
    assert (final["state"], final["reason"]) == ("failed", "pretrained_unavailable")
    message = final["message"]
    assert "1) cache: no entry" in message and "2) storage: no copy" in message
    assert "3) source: http://127.0.0.1:9/assets/yolo11n.pt" in message
    assert not of_type(events, "metric")


@pytest.mark.e2e
def test_bad_dataset_layout_is_reported(tmp_path: Path) -> None:
    data = make_yolo(tmp_path / "shapes", "pose", train_images=2, val_images=1, size=64)
    shutil.rmtree(data / "images" / "val")
    code, events, output, _ = run_train(tmp_path, "job-bad", spec("pose", data))
    assert code == 1, output
    final = of_type(events, "status")[-1]
    assert (final["state"], final["reason"]) == ("failed", "dataset_invalid")
    assert "images/val" in final["message"]


@pytest.mark.e2e
def test_service_health_capabilities_and_validation(
    start_service, internal_headers, tmp_path: Path
) -> None:
    _, base = start_service("ultralytics")
    somewhere = tmp_path / "data"  # the service only checks that a local dataset exists
    somewhere.mkdir()
    with httpx.Client(base_url=base, headers=internal_headers, timeout=30) as client:
        health = client.get("/health").json()
        assert health["framework"] == "ultralytics"
        assert {"ultralytics", "torch", "torchvision"} <= set(health["versions"])
        assert health["versions"]["ultralytics"] != "not installed"
        assert health["device"].startswith(("cpu", "cuda"))

        caps = client.get("/v1/capabilities").json()
        tasks = caps["tasks"]
        assert set(tasks) == {"detection", "segmentation", "pose", "classification"}
        assert tasks["classification"]["dataset_formats"] == ["imagefolder"]
        for task in ("detection", "segmentation", "pose"):
            assert tasks[task]["dataset_formats"] == ["yolo"]
        assert {"yolo11n.yaml", "yolo11x.yaml", "yolov8s.yaml"} <= set(tasks["detection"]["models"])
        assert "yolo11s-seg.yaml" in tasks["segmentation"]["models"]
        assert "yolov8m-pose.yaml" in tasks["pose"]["models"]
        assert "yolo11n-cls.yaml" in tasks["classification"]["models"]
        assert "yolo11n-seg.yaml" not in tasks["detection"]["models"]
        props = caps["options_schema"]["properties"]
        assert {"patience", "cos_lr", "mosaic", "close_mosaic", "plots", "amp"} <= set(props)
        assert all(p.get("description") for p in props.values())
        assert caps["options_schema"]["additionalProperties"] is False

        def validate(task: str = "detection", **overrides: Any) -> httpx.Response:
            return client.post("/v1/validate", json={"spec": spec(task, somewhere, **overrides)})

        for task in MODELS:
            assert validate(task).status_code == 200, validate(task).text
        pretrained = {"pretrained": True}
        assert validate(model="yolov8l.yaml", options={"mosaic": 0.5}).status_code == 200
        assert validate(model="yolo11n.pt", hyperparams=pretrained).status_code == 200

        def problems(response: httpx.Response) -> dict[str, dict[str, Any]]:
            assert response.status_code == 422, response.text
            return {e["field"]: e for e in response.json()["errors"]}

        unknown = problems(validate(model="yolo99n.yaml"))["model"]
        assert "yolo11n.yaml" in unknown["allowed"]
        pose_allowed = problems(validate("pose", model="yolo11n.yaml"))["model"]["allowed"]
        assert "yolo11n-pose.yaml" in pose_allowed and "yolo11n.yaml" not in pose_allowed
        assert "model" in problems(validate(model="yolo11n"))  # configs end in .yaml
        assert "hyperparams.pretrained" in problems(validate(model="yolo11n.pt"))
        wrong_format = {"uri": str(somewhere), "format": "imagefolder"}
        assert problems(validate(dataset=wrong_format))["dataset.format"]["allowed"] == ["yolo"]
        coco = {"uri": str(somewhere), "format": "coco"}
        refused = problems(validate("segmentation", dataset=coco))["dataset.format"]
        assert refused["allowed"] == ["yolo"]
        assert "classification: imagefolder" in refused["message"]
        missing = {"uri": str(somewhere / "data.yaml"), "format": "yolo"}
        assert "does not exist" in problems(validate(dataset=missing))["dataset.uri"]["message"]
        # ultralytics does every Trainyard task; any other task is refused by the spec itself.
        response = validate(task="obb")
        assert response.status_code == 422, response.text
        assert any("task" in e["field"] for e in response.json()["errors"]), response.text
        assert "options.mixup" in problems(validate(options={"mixup": 2}))
        assert "options.label_smoothing" in problems(validate(options={"label_smoothing": 0.1}))
        assert "options.cache" in problems(validate(options={"cache": "gpu"}))
        # Ultralytics distributes over CUDA devices only, on one machine.
        assert caps["distributed"] == {
            "cpu_processes": False,
            "gpu_processes": True,
            "multi_node": False,
            "own_launcher": True,
        }
        cpu_ranks = problems(validate(distributed={"processes_per_node": 2}))
        refused = cpu_ranks["distributed.processes_per_node"]
        assert "CUDA devices only" in refused["message"]
        assert "resources.gpu = 2 (one process per GPU)" in refused["allowed"]
        two_gpus = {"gpu": 2}
        assert validate(resources=two_gpus, hyperparams={"batch_size": 16}).status_code == 200
        nodes = validate(resources=two_gpus, distributed={"nodes": 2})
        assert nodes.status_code == 422, nodes.text
        said = [e["message"] for e in nodes.json()["errors"] if e["field"] == "distributed.nodes"]
        assert "ultralytics does not train one job over several nodes" in said
        assert "the subprocess executor runs a job on at most 1 node(s), not 2" in said
        rule = {"metric": "val/mAP50-95", "patience": 5}
        assert validate(early_stopping=rule).status_code == 200
        metric = problems(validate("classification", early_stopping=rule))["early_stopping.metric"]
        assert set(metric["allowed"]) == CLASSIFICATION_METRICS
        assert set(tasks["classification"]["metrics"]) == CLASSIFICATION_METRICS
        assert set(tasks["detection"]["metrics"]) == DETECTION_METRICS
        for task in ("segmentation", "pose"):
            assert TASK_METRICS[task] <= set(tasks[task]["metrics"])
