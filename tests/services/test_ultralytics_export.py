"""Exporting trained YOLO models with ultralytics' exporter: ONNX and TorchScript files answer
like the PyTorch model (raw head outputs compared), and a perturbed ONNX file fails the check
with export_mismatch.

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
from tests.support.train_py import checkpoint, of_type, sha256
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
        code, _, output, _ = run_train(tmp, "job-trained", job)
        assert code == 0, output
        made[task] = (tmp, data, job)
    return made


@pytest.mark.parametrize(
    ("task", "fmt"),
    [("detection", "onnx"), ("detection", "torchscript"), ("segmentation", "onnx")],
)
def test_export_passes_its_parity_check(trained, task: str, fmt: str) -> None:
    tmp, _, job = trained[task]
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
    tmp, data, job = trained["detection"]
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
