"""After training a timm classifier: ONNX and TorchScript exports pass their parity check
against the PyTorch model, a perturbed ONNX file fails it with export_mismatch, and an
evaluation gives the metrics training reported for the same model and data.

A tiny timm ResNet is trained for one epoch on synthetic 32 px images; the export module runs
as its service runs it (`python -m trainyard_timm.export`), events on stderr.
"""

from __future__ import annotations

import pytest

from tests.support.exports import TRAINED, break_exported_onnx, evaluate_trained, export_trained
from tests.support.train_py import run_train_py
from trainyard_dev.synthetic import make_classification

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """(folder, dataset, training spec, training events) of a model trained for one epoch."""
    tmp = tmp_path_factory.mktemp("timm-export")
    data = make_classification(tmp / "shapes", train_per_class=6, val_per_class=3, size=32)
    spec = {
        "framework": "timm",
        "task": "classification",
        "model": "test_resnet",
        "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
        "hyperparams": {"epochs": 1, "batch_size": 8, "image_size": 32},
        "resources": {"gpu": 0},
        "project": "tests",
    }
    code, events, output, _ = run_train_py("timm", tmp, TRAINED, spec)
    assert code == 0, output
    return tmp, data, spec, events


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_passes_its_parity_check(trained, fmt: str) -> None:
    tmp, _, spec, _ = trained
    final = export_trained("timm", tmp, spec, fmt)
    parity = final["result"]["parity"]
    assert parity["passed"] is True
    assert parity["images"] == 8 and parity["format"] == fmt
    assert parity["top1_agreement"] == 1.0
    assert parity["max_abs_diff"] <= 1e-3
    assert final["metrics"]["parity_top1_agreement"] == 1.0


def test_a_perturbed_onnx_file_fails_with_export_mismatch(trained) -> None:
    tmp, data, spec, _ = trained
    broken = break_exported_onnx("timm", tmp, spec, data)
    assert broken["report"]["passed"] is False
    assert broken["report"]["max_abs_diff"] > 1e-3


def test_evaluation_gives_the_metrics_training_reported(trained) -> None:
    """One epoch: best.pt is the model of epoch 1, whose validation training reported."""
    tmp, _, spec, training = trained
    final, trained_metrics = evaluate_trained("timm", tmp, spec, training)
    result = final["result"]
    assert result["metrics"]["top1"] == pytest.approx(trained_metrics["top1"])
    assert result["metrics"]["val_loss"] == pytest.approx(trained_metrics["val_loss"], rel=1e-4)
    assert final["metrics"] == result["metrics"]
    assert result["images"] == 9 and result["labels"] == ["circle", "square", "triangle"]
    matrix = result["confusion_matrix"]
    assert sum(map(sum, matrix)) == 9 and [sum(row) for row in matrix] == [3, 3, 3]
    hits = sum(matrix[i][i] for i in range(3))
    assert hits / 9 == pytest.approx(result["metrics"]["top1"])
    assert [c["support"] for c in result["per_class"]] == [3, 3, 3]
