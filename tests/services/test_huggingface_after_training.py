"""After training a transformers classifier (a tiny ViT): ONNX and TorchScript exports pass
their parity check against the PyTorch model, a perturbed ONNX file fails it with
export_mismatch, an evaluation gives the accuracy training reported, and the service's predictor
answers the evaluated model's classes.

The modules run as the service runs them (`python -m trainyard_huggingface.export`, …).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.services.test_huggingface import run_train, spec
from tests.support.exports import TRAINED, break_exported_onnx, evaluate_trained, export_trained
from tests.support.train_py import REPO, checkpoint
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_classification

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hf-export")
    data = make_classification(tmp / "shapes", train_per_class=6, val_per_class=3, size=32)
    job = spec(data, hyperparams={"epochs": 1})
    code, events, output, _ = run_train(tmp, TRAINED, job, timeout=600)
    assert code == 0, output
    return tmp, data, job, events


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_passes_its_parity_check(trained, fmt: str) -> None:
    tmp, _, job, _ = trained
    final = export_trained("huggingface", tmp, job, fmt)
    parity = final["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 8
    assert parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] <= 1e-3
    assert parity["outputs"][0]["shape"] == [8, 3]  # logits of three classes per image


def test_a_perturbed_onnx_file_fails_with_export_mismatch(trained) -> None:
    tmp, data, job, _ = trained
    break_exported_onnx("huggingface", tmp, job, data)


# Run in the huggingface environment: the service's predictor on the validation images.
_PREDICT = """
import json, sys
from pathlib import Path
from PIL import Image
from trainyard_huggingface.predict import HuggingfacePredictor
from trainyard_wire.spec import JobSpec
predictor = HuggingfacePredictor(Path(sys.argv[1]), JobSpec.model_validate_json(sys.argv[2]))
images = [Image.open(p).convert("RGB") for p in sys.argv[3:]]
print(json.dumps([a["classes"][0]["label"] for a in predictor.predict(images, 1, 0.25)]))
"""


def test_evaluation_and_predictions_agree_with_training(trained) -> None:
    tmp, data, job, training = trained
    final, trained_metrics = evaluate_trained("huggingface", tmp, job, training, timeout=600)
    assert final["metrics"]["accuracy"] == pytest.approx(trained_metrics["accuracy"])
    assert final["metrics"]["val_loss"] == pytest.approx(trained_metrics["val_loss"], rel=1e-4)

    images = sorted((data / "val").rglob("*.png"))
    out = subprocess.run(
        [str(environment_python(REPO, "huggingface")), "-c", _PREDICT]
        + [str(checkpoint(tmp, TRAINED, "best.pt")), json.dumps(job)]
        + [str(path) for path in images],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    labels = json.loads(out.stdout.strip().splitlines()[-1])
    truth = [path.parent.name for path in images]
    hits = sum(label == true for label, true in zip(labels, truth, strict=True))
    assert hits / len(images) == pytest.approx(final["metrics"]["accuracy"])
    matrix = final["result"]["confusion_matrix"]
    assert sum(matrix[i][i] for i in range(len(matrix))) == hits
