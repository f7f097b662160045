"""Predictions through the whole platform for the frameworks beside timm (whose are in
test_after_training.py): a transformers classifier and a YOLO detector train as jobs on their
real services, then `POST /v1/models/{id}/predict` on the gateway answers what each model
called directly answers: the same top classes and probabilities, and the same boxes within 1e-4.

Each model trains for one epoch on tiny synthetic data, from scratch. Detections are asked down
to a score of 0.001, so a barely trained model still finds boxes to compare.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services import test_huggingface, test_ultralytics
from tests.services.test_ultralytics_predict import direct_boxes
from tests.support.jobs import submit, wait_for
from tests.support.processes import Processes
from tests.support.train_py import REPO
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_classification, make_yolo
from trainyard_runtime.storage.layout import checkpoint_key

pytestmark = pytest.mark.e2e


@dataclass
class Trained:
    job: dict[str, Any]
    checkpoint: Path  # best.pt, where train.py stored it
    images: list[Path]  # validation images


@pytest.fixture(scope="module")
def stack(module_processes: Processes, tmp_path_factory: pytest.TempPathFactory):
    """(gateway URL, {framework: Trained}) for a tiny ViT and a yolo11n trained as jobs."""
    tmp = tmp_path_factory.mktemp("predict-frameworks")
    _, hf = module_processes.service("huggingface", HF_HOME=str(tmp / "hf-home"))
    _, yolo = module_processes.service("ultralytics")
    gateway = module_processes.gateway(HUGGINGFACE_SERVICE_URL=hf, ULTRALYTICS_SERVICE_URL=yolo)
    shapes = make_classification(tmp / "shapes", train_per_class=6, val_per_class=2, size=32)
    boxes = make_yolo(tmp / "shapes-yolo", train_images=4, val_images=2, size=64)
    specs = {
        "huggingface": test_huggingface.spec(shapes, hyperparams={"epochs": 1}),
        "ultralytics": test_ultralytics.spec(
            "detection", boxes, hyperparams={"epochs": 1}, options={"plots": False}
        ),
    }
    images = {
        "huggingface": sorted((shapes / "val").rglob("*.png")),
        "ultralytics": sorted((boxes / "images" / "val").glob("*.png")),
    }
    created = {framework: submit(gateway.url, spec) for framework, spec in specs.items()}
    trained = {}
    for framework, job in created.items():
        done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"}, timeout=900)
        assert done["state"] == "succeeded", done["error"]
        key = checkpoint_key("tests", job["id"], "best.pt")
        trained[framework] = Trained(
            done, module_processes.root / "storage" / key, images[framework]
        )
    return gateway.url, trained


def predict(gateway: str, trained: Trained, **form: str) -> dict[str, Any]:
    files = [("images", (path.name, path.read_bytes(), "image/png")) for path in trained.images]
    response = httpx.post(
        f"{gateway}/v1/models/{trained.job['id']}/predict", files=files, data=form, timeout=600
    )
    assert response.status_code == 200, response.text
    return response.json()


# Run in the huggingface environment: the checkpoint's model, rebuilt as the service rebuilds it,
# called on the images with the evaluation transform of its training; every class's probability.
_HF_PROBABILITIES = """
import json, sys
import torch
from PIL import Image
from trainyard_huggingface.build import load_checkpoint
from trainyard_huggingface.data import eval_transform
model, c = load_checkpoint(__import__("pathlib").Path(sys.argv[1]))
tf = eval_transform(c["image_size"], c["image_mean"], c["image_std"])
batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in sys.argv[2:]])
extra = {"interpolate_pos_encoding": True} if c.get("interpolate_pos_encoding") else {}
with torch.inference_mode():
    probs = model(pixel_values=batch, **extra).logits.softmax(1)
labels = [str(c["id2label"][i]) for i in sorted(c["id2label"])]
print(json.dumps([{labels[i]: float(p) for i, p in enumerate(row)} for row in probs.tolist()]))
"""


def test_a_transformers_classifier_answers_as_the_model_called_directly(stack) -> None:
    gateway, trained = stack
    hf = trained["huggingface"]
    answer = predict(gateway, hf, top_k="3")
    assert (answer["framework"], answer["task"]) == ("huggingface", "classification")
    out = subprocess.run(
        [str(environment_python(REPO, "huggingface")), "-c", _HF_PROBABILITIES]
        + [str(hf.checkpoint)]
        + [str(path) for path in hf.images],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    expected = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(answer["predictions"]) == len(expected) == len(hf.images)
    for prediction, direct in zip(answer["predictions"], expected, strict=True):
        assert prediction["detections"] is None
        ranked = sorted(direct, key=lambda label: -direct[label])
        assert [c["label"] for c in prediction["classes"]] == ranked
        for each in prediction["classes"]:
            assert each["probability"] == pytest.approx(direct[each["label"]], abs=1e-5)


def test_a_yolo_detector_answers_the_boxes_of_the_model_called_directly(stack) -> None:
    gateway, trained = stack
    yolo = trained["ultralytics"]
    answer = predict(gateway, yolo, conf="0.001")
    assert (answer["framework"], answer["task"]) == ("ultralytics", "detection")
    expected = direct_boxes(yolo.checkpoint, 64, yolo.images)
    for prediction, boxes in zip(answer["predictions"], expected, strict=True):
        assert prediction["classes"] is None
        found = prediction["detections"]
        assert len(found) == len(boxes) > 0
        for detection, (*box, score, class_id) in zip(found, boxes, strict=True):
            assert detection["box"] == pytest.approx(box, abs=1e-4)
            assert detection["score"] == pytest.approx(score, abs=1e-4)
            assert detection["class_id"] == int(class_id)
