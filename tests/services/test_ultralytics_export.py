"""After training YOLO models: ultralytics' exporter's ONNX and TorchScript files answer like
the PyTorch model (raw head outputs compared), a perturbed ONNX file fails the check with
export_mismatch, and an evaluation gives the mAP training reported.

yolo11n detection and segmentation models train for one epoch on tiny synthetic YOLO data;
the export module runs as its service runs it (`python -m trainyard_ultralytics.export`).
"""

from __future__ import annotations

import pytest

from tests.services.test_ultralytics import run_train, spec
from tests.support.exports import (
    check_with_broken_weight,
    export_spec,
    exported_file,
    final_status,
    run_export,
)
from tests.support.train_py import checkpoint, of_type, run_train_py, sha256
from trainyard_dev.synthetic import make_yolo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """task -> (folder, dataset, training spec) of a model trained for one epoch."""
    made = {}
    for task in ("detection", "segmentation"):
        tmp = tmp_path_factory.mktemp(f"yolo-export-{task}")
        data = make_yolo(tmp / "shapes", task, train_images=4, val_images=2, size=64)
        job = spec(task, data, hyperparams={"epochs": 1}, options={"plots": False})
        code, events, output, _ = run_train(tmp, "job-trained", job)
        assert code == 0, output
        made[task] = (tmp, data, job, events)
    return made


@pytest.mark.parametrize(
    ("task", "fmt"),
    [("detection", "onnx"), ("detection", "torchscript"), ("segmentation", "onnx")],
)
def test_export_passes_its_parity_check(trained, task: str, fmt: str) -> None:
    tmp, _, job, _ = trained[task]
    job_id = f"job-export-{fmt}"
    result = run_export("ultralytics", tmp, job_id, export_spec(job, "job-trained", fmt), tmp)
    code, events, output, _ = result
    assert code == 0, output
    final = final_status(events)
    assert final["state"] == "succeeded", output
    parity = final["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 2
    assert parity["top1_agreement"] is None  # not a classifier: outputs compared, no top-1
    # boxes with class scores; for segmentation also the mask prototypes
    assert len(parity["outputs"]) == (2 if task == "segmentation" else 1)
    assert parity["outputs"][0]["shape"][:2] == [2, 4 + 3 + (32 if task == "segmentation" else 0)]
    name = f"model.{fmt}"
    (artifact,) = of_type(events, "artifact")
    assert (artifact["name"], artifact["kind"]) == (name, "export")
    assert artifact["sha256"] == sha256(exported_file(tmp, job_id, name))


def test_a_perturbed_onnx_file_fails_with_export_mismatch(trained) -> None:
    tmp, data, job, _ = trained["detection"]
    job_spec = export_spec(job, "job-trained", "onnx")
    code, _, output, _ = run_export("ultralytics", tmp, "job-export-to-break", job_spec, tmp)
    assert code == 0, output
    answers = check_with_broken_weight(
        "ultralytics",
        checkpoint(tmp, "job-trained", "best.pt"),
        exported_file(tmp, "job-export-to-break", "model.onnx"),
        data,
        job_spec,
    )
    assert answers["as_exported"]["reason"] is None
    assert answers["broken"]["reason"] == "export_mismatch"
    assert answers["broken"]["report"]["worst_excess"] > 0


@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_evaluation_gives_the_map_training_reported(trained, task: str) -> None:
    """One epoch: best.pt is the model of epoch 1, whose validation training reported."""
    tmp, _, job, training = trained[task]
    spec = {**job, "kind": "evaluate", "source": {"job_id": "job-trained", "checkpoint": "best"}}
    code, events, output, _ = run_train_py(
        "ultralytics", tmp, "job-evaluate", spec, module="evaluate", cwd=tmp, timeout=300
    )
    assert code == 0, output
    final = final_status(events)
    assert final["state"] == "succeeded", output
    (epoch,) = of_type(training, "metric")
    names = ["val/mAP50", "val/mAP50-95"]
    if task == "segmentation":
        names += ["val/mask_mAP50", "val/mask_mAP50-95"]
    for name in names:
        assert final["metrics"][name] == pytest.approx(epoch["metrics"][name], abs=1e-6), name
    assert "box" in final["result"] and ("seg" in final["result"]) == (task == "segmentation")
