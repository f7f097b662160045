"""Predictions of trained YOLO models through the ultralytics service's `POST /v1/predict`:
detection boxes equal (within 1e-4) what the model called directly finds, segmentation adds mask
outlines, pose adds keypoints; the model stays loaded for the next call.

Each model trains for one epoch on tiny synthetic data; the service reads its checkpoints from
the storage train.py wrote them to. Detections are asked down to a score of 0.001, so a barely
trained model still finds boxes to compare.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.test_ultralytics import run_train, spec
from tests.support.processes import INTERNAL_TOKEN, Processes
from tests.support.train_py import REPO, checkpoint
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_yolo

pytestmark = pytest.mark.e2e
TASKS = ("detection", "segmentation", "pose")
HEADERS = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    """(service URL, {task: (training spec, validation images)}) for models trained here."""
    tmp = tmp_path_factory.mktemp("yolo-predict")
    trained = {}
    for task in TASKS:
        data = make_yolo(tmp / task, task, train_images=4, val_images=2, size=64)
        job = spec(task, data, hyperparams={"epochs": 1}, options={"plots": False})
        code, _, output, _ = run_train(tmp, f"job-{task}", job)
        assert code == 0, output
        trained[task] = (job, sorted((data / "images" / "val").glob("*.png")))
    processes = Processes(tmp)  # its services read tmp/storage, where train.py wrote
    try:
        _, url = processes.service("ultralytics")
        yield url, tmp, trained
    finally:
        processes.stop_all()


def ask(url: str, task: str, job: dict[str, Any], images: list[Path]) -> dict[str, Any]:
    body = {
        "job_id": f"job-{task}",
        "spec": job,
        "key": f"checkpoints/projects/tests/jobs/job-{task}/best.pt",
        "conf": 0.001,
        "images": [
            {"name": path.name, "data": base64.b64encode(path.read_bytes()).decode()}
            for path in images
        ],
    }
    response = httpx.post(f"{url}/v1/predict", json=body, headers=HEADERS, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


_DIRECT = """
import json, sys
from trainyard_ultralytics.runtime import apply_offline_settings, prepare_offline
prepare_offline(__import__("pathlib").Path(sys.argv[1]).parent / "direct-config")
apply_offline_settings()
from ultralytics import YOLO
model = YOLO(sys.argv[1])
results = model.predict(
    sys.argv[3:], imgsz=int(sys.argv[2]), conf=0.001, device="cpu", verbose=False
)
print(json.dumps([[b + [s, c] for b, s, c in zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(),
                                                 r.boxes.cls.tolist())] for r in results]))
"""


def direct_boxes(weights: Path, size: int, images: list[Path]) -> list[list[list[float]]]:
    out = subprocess.run(
        [str(environment_python(REPO, "ultralytics")), "-c", _DIRECT, str(weights), str(size)]
        + [str(path) for path in images],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=weights.parent,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_detection_boxes_match_the_model_called_directly(service) -> None:
    url, tmp, trained = service
    job, images = trained["detection"]
    answer = ask(url, "detection", job, images)
    assert answer["cached"] is False and answer["task"] == "detection"
    expected = direct_boxes(checkpoint(tmp, "job-detection", "best.pt"), 64, images)
    for prediction, boxes in zip(answer["predictions"], expected, strict=True):
        assert prediction["classes"] is None and (prediction["width"], prediction["height"]) == (
            64,
            64,
        )
        found = prediction["detections"]
        assert len(found) == len(boxes) > 0
        for detection, (*box, score, class_id) in zip(found, boxes, strict=True):
            assert detection["box"] == pytest.approx(box, abs=1e-4)
            assert detection["score"] == pytest.approx(score, abs=1e-4)
            assert detection["class_id"] == int(class_id)
            assert detection["label"] in {"circle", "square", "triangle"}
            assert detection["polygons"] is None and detection["keypoints"] is None
    assert ask(url, "detection", job, images[:1])["cached"] is True


def test_segmentation_answers_mask_outlines_and_pose_keypoints(service) -> None:
    url, _, trained = service
    masks = ask(url, "segmentation", *trained["segmentation"])["predictions"][0]["detections"]
    assert masks and all(len(d["box"]) == 4 for d in masks)
    assert any(d["polygons"] and len(d["polygons"][0]) >= 3 for d in masks)
    assert all(len(point) == 2 for d in masks for point in (d["polygons"] or [[]])[0])
    poses = ask(url, "pose", *trained["pose"])["predictions"][0]["detections"]
    assert poses and all(len(d["keypoints"]) == 4 for d in poses)  # a square's four corners
    assert all(len(point) == 3 for d in poses for point in d["keypoints"])
    counted = httpx.get(f"{url}/v1/predict/cache", headers=HEADERS).json()
    assert counted["loads"] == 3 and counted["evictions"] == 0  # three models fit the budget
