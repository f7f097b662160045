"""After training, through the whole platform: a timm job trains on the real timm service,
then its model is exported (an export job through the same queue, service, executor and
event stream, ending with its parity report and the ONNX file it stored), evaluated (an
evaluation job, linked from the trained one) and asked for predictions (answered by the
service, which keeps the model loaded)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.jobs import submit, wait_for
from tests.support.processes import INTERNAL_TOKEN, Processes
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_classification

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    gateway: str
    service: str
    data: Path
    storage: Path
    trained: dict[str, Any]


@pytest.fixture(scope="module")
def stack(module_processes: Processes, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """The timm service keeping one model loaded at most (a budget of 1 byte: the newest model
    always stays, any other goes), its gateway, and a tiny trained classifier."""
    _, timm_url = module_processes.service("timm", HEARTBEAT_INTERVAL="1", PREDICT_CACHE_BYTES="1")
    gateway = module_processes.gateway(TIMM_SERVICE_URL=timm_url)
    data = make_classification(
        tmp_path_factory.mktemp("after") / "shapes", train_per_class=4, val_per_class=2, size=32
    )
    job = submit(
        gateway.url,
        {
            "framework": "timm",
            "task": "classification",
            "model": "test_resnet",
            "dataset": {"uri": str(data), "format": "imagefolder"},
            "hyperparams": {"epochs": 1, "batch_size": 8, "image_size": 32},
            "resources": {"gpu": 0},
        },
    )
    trained = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"}, timeout=600)
    assert trained["state"] == "succeeded", trained["error"]
    return Stack(gateway.url, timm_url, data, module_processes.root / "storage", trained)


def test_a_trained_model_exports_to_onnx_with_its_parity_report(stack: Stack) -> None:
    source = stack.trained["id"]
    response = httpx.post(
        f"{stack.gateway}/v1/jobs/{source}/export",
        json={"format": "onnx", "checkpoint": "best", "max_images": 4},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["kind"], created["source_job_id"]) == ("export", source)
    assert created["spec"]["source"]["key"].endswith(f"/jobs/{source}/best.pt")

    exported = wait_for(stack.gateway, created["id"], {"succeeded", "failed", "lost"}, timeout=600)
    assert exported["state"] == "succeeded", exported["error"]
    parity = exported["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 4
    assert parity["top1_agreement"] == 1.0
    assert exported["metrics"]["parity_max_abs_diff"] == parity["max_abs_diff"]

    (artifact,) = exported["artifacts"]
    assert (artifact["name"], artifact["kind"]) == ("model.onnx", "export")
    body = httpx.get(f"{stack.gateway}{artifact['download_url']}", timeout=60).content
    assert len(body) == artifact["size"]
    assert hashlib.sha256(body).hexdigest() == artifact["sha256"]

    # An export job has no model of its own to export.
    again = httpx.post(f"{stack.gateway}/v1/jobs/{created['id']}/export", json={"format": "onnx"})
    assert again.status_code == 409 and again.json()["errors"][0]["allowed"] == ["train"]


# Run in the timm environment: the checkpoint's model called directly on image files.
_DIRECT = """
import json, sys
import timm, torch
from PIL import Image
from torchvision import transforms
c = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
model = timm.create_model(c["model"], num_classes=len(c["class_names"])).eval()
model.load_state_dict(c["state_dict"])
size = c["image_size"]
tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                         transforms.Normalize(c["mean"], c["std"])])
batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in sys.argv[2:]])
with torch.inference_mode():
    probs = model(batch).softmax(1)
top = probs.max(1)
print(json.dumps([[c["class_names"][int(i)], float(v)] for v, i in zip(top.values, top.indices)]))
"""


def direct_top1(stack: Stack, checkpoint: str, images: list[Path]) -> list[list[Any]]:
    key = f"checkpoints/projects/default/jobs/{stack.trained['id']}/{checkpoint}.pt"
    out = subprocess.run(
        [str(environment_python(REPO, "timm")), "-c", _DIRECT, str(stack.storage / key)]
        + [str(path) for path in images],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout)


def predict(stack: Stack, images: list[Path], **form: str) -> httpx.Response:
    files = [("images", (path.name, path.read_bytes(), "image/png")) for path in images]
    url = f"{stack.gateway}/v1/models/{stack.trained['id']}/predict"
    return httpx.post(url, files=files, data=form, timeout=300)


def cache(stack: Stack) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
    return httpx.get(f"{stack.service}/v1/predict/cache", headers=headers).json()


def test_predictions_match_the_model_and_the_loaded_model_is_kept(stack: Stack) -> None:
    images = sorted((stack.data / "val").rglob("*.png"))[:4]
    first = predict(stack, images, top_k="2")
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["task"], answer["checkpoint"], answer["cached"]) == (
        "classification", "best", False
    )  # fmt: skip
    assert [p["image"] for p in answer["predictions"]] == [path.name for path in images]
    expected = direct_top1(stack, "best", images)
    for prediction, (label, probability) in zip(answer["predictions"], expected, strict=True):
        assert len(prediction["classes"]) == 2 and prediction["detections"] is None
        assert prediction["classes"][0]["label"] == label
        assert prediction["classes"][0]["probability"] == pytest.approx(probability, abs=1e-5)
        assert (prediction["width"], prediction["height"]) == (32, 32)

    # The second request finds the model loaded: the service's own counter did not move.
    second = predict(stack, images[:1])
    assert second.status_code == 200 and second.json()["cached"] is True
    counted = cache(stack)
    assert (counted["loads"], counted["hits"], counted["evictions"]) == (1, 1, 0)

    # Another model (the last checkpoint) does not fit beside it: the best one is evicted,
    # and asked for again it is loaded again.
    assert predict(stack, images[:1], checkpoint="last").json()["cached"] is False
    assert predict(stack, images[:1]).json()["cached"] is False
    counted = cache(stack)
    assert (counted["loads"], counted["evictions"]) == (3, 2)
    assert [entry["key"].rsplit("/", 1)[1] for entry in counted["entries"]] == ["best.pt"]


def test_a_file_that_is_not_an_image_is_refused(stack: Stack, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    response = predict(stack, [text])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"].startswith("notes.png is not an image")
    assert body["errors"][0]["allowed"] == ["JPEG, PNG, BMP, GIF, TIFF or WebP"]


def test_an_evaluation_gives_the_metrics_of_training_and_is_linked_from_it(stack: Stack) -> None:
    source = stack.trained["id"]
    response = httpx.post(f"{stack.gateway}/v1/jobs/{source}/evaluate", json={}, timeout=60)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["kind"], created["source_job_id"]) == ("evaluate", source)
    done = wait_for(stack.gateway, created["id"], {"succeeded", "failed", "lost"}, timeout=600)
    assert done["state"] == "succeeded", done["error"]
    # One epoch: best.pt is the model whose validation training reported.
    assert done["result"]["metrics"]["top1"] == pytest.approx(stack.trained["metrics"]["top1"])
    assert done["result"]["metrics"]["val_loss"] == pytest.approx(
        stack.trained["metrics"]["val_loss"], rel=1e-4
    )
    assert len(done["result"]["confusion_matrix"]) == 3
    derived = httpx.get(f"{stack.gateway}/v1/jobs/{source}").json()["derived"]
    assert {"id": created["id"], "kind": "evaluate", "state": "succeeded"} in derived
