"""After training YOLO models: ultralytics' exporter's ONNX and TorchScript files answer like
the PyTorch model (raw head outputs compared), a perturbed ONNX file fails the check with
export_mismatch, and an evaluation gives the mAP training reported.

yolo11n detection, segmentation, pose and classification models train for one epoch on tiny
synthetic data; the export module runs as its service runs it (`python -m
trainyard_ultralytics.export`).
"""

from __future__ import annotations

import pytest

from tests.services.test_ultralytics import run_train, spec
from tests.support.exports import TRAINED, break_exported_onnx, evaluate_trained, export_trained
from trainyard_dev.synthetic import make_classification, make_yolo

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """task -> (folder, dataset, training spec) of a model trained for one epoch."""
    made = {}
    for task in ("detection", "segmentation", "pose", "classification"):
        tmp = tmp_path_factory.mktemp(f"yolo-export-{task}")
        if task == "classification":
            data = make_classification(tmp / "shapes", train_per_class=4, val_per_class=1, size=32)
        else:
            data = make_yolo(tmp / "shapes", task, train_images=4, val_images=2, size=64)
        job = spec(task, data, hyperparams={"epochs": 1}, options={"plots": False})
        code, events, output, _ = run_train(tmp, TRAINED, job)
        assert code == 0, output
        made[task] = (tmp, data, job, events)
    return made


@pytest.mark.parametrize(
    ("task", "fmt"),
    [("detection", "onnx"), ("detection", "torchscript"), ("segmentation", "onnx")],
)
def test_export_passes_its_parity_check(trained, task: str, fmt: str) -> None:
    tmp, _, job, _ = trained[task]
    final = export_trained("ultralytics", tmp, job, fmt, tmp)
    parity = final["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 2
    assert parity["top1_agreement"] is None  # not a classifier: outputs compared, no top-1
    # boxes with class scores; for segmentation also the mask prototypes
    assert len(parity["outputs"]) == (2 if task == "segmentation" else 1)
    assert parity["outputs"][0]["shape"][:2] == [2, 4 + 3 + (32 if task == "segmentation" else 0)]
    # ultralytics' validator on the validation split: the file scores as the checkpoint does
    scores = final["result"]["task_metrics"]
    assert set(scores["pytorch"]) == {"mAP50", "mAP50-95"}
    assert scores["exported"] == pytest.approx(scores["pytorch"], abs=0.01)


def test_pose_export_passes_its_parity_check_with_the_keypoints(trained) -> None:
    tmp, _, job, _ = trained["pose"]
    parity = export_trained("ultralytics", tmp, job, "onnx", tmp)["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 2
    assert parity["top1_agreement"] is None
    # per anchor: the box, the one class's score, then x, y and visibility of 4 keypoints
    assert parity["outputs"][0]["shape"][:2] == [2, 4 + 1 + 4 * 3]


def test_classifier_export_passes_its_parity_check_with_top1_agreement(trained) -> None:
    tmp, _, job, _ = trained["classification"]
    parity = export_trained("ultralytics", tmp, job, "onnx", tmp)["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 3
    assert parity["top1_agreement"] == 1.0
    assert parity["outputs"][0]["shape"] == [3, 3]  # three class probabilities per image


def test_a_perturbed_onnx_file_fails_with_export_mismatch(trained) -> None:
    tmp, data, job, _ = trained["detection"]
    broken = break_exported_onnx("ultralytics", tmp, job, data, tmp)
    assert broken["report"]["worst_excess"] > 0


@pytest.mark.parametrize("task", ["detection", "segmentation", "pose"])
def test_evaluation_gives_the_map_training_reported(trained, task: str) -> None:
    """One epoch: best.pt is the model of epoch 1, whose validation training reported."""
    tmp, _, job, training = trained[task]
    final, trained_metrics = evaluate_trained(
        "ultralytics", tmp, job, training, cwd=tmp, timeout=300
    )
    names = ["val/mAP50", "val/mAP50-95"]
    if task == "segmentation":
        names += ["val/mask_mAP50", "val/mask_mAP50-95"]
    if task == "pose":
        names += ["val/pose_mAP50", "val/pose_mAP50-95"]
    for name in names:
        assert final["metrics"][name] == pytest.approx(trained_metrics[name], abs=1e-6), name
    assert "box" in final["result"] and ("seg" in final["result"]) == (task == "segmentation")
    assert ("pose" in final["result"]) == (task == "pose")


def test_a_classifier_evaluation_gives_the_accuracy_training_reported(trained) -> None:
    tmp, _, job, training = trained["classification"]
    final, trained_metrics = evaluate_trained(
        "ultralytics", tmp, job, training, cwd=tmp, timeout=300
    )
    # During training ultralytics' validator rounds what it reports to 5 decimals.
    for name in ("val/top1_accuracy", "val/top5_accuracy"):
        assert final["metrics"][name] == pytest.approx(trained_metrics[name], abs=1e-5), name
    assert "box" not in final["result"]
