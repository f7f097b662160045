"""`POST /v1/models/{job_id}/predict` refusals, each saying what is allowed: too many images,
one too large or empty, a job with no model, a framework that does not predict. The
predictions themselves run in tests/e2e/test_predict.py against a real framework."""

from __future__ import annotations

import httpx
import pytest

from tests.support.finished_jobs import FinishedJobs, finished_jobs
from tests.support.processes import Processes
from trainyard_wire.predictions import MAX_PREDICT_IMAGE_BYTES, MAX_PREDICT_IMAGES

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # what is inside is the service's to judge


@pytest.fixture(scope="module")
def stack(module_processes: Processes, tmp_path_factory: pytest.TempPathFactory) -> FinishedJobs:
    return finished_jobs(module_processes, tmp_path_factory.mktemp("predict"))


def predict(stack: FinishedJobs, job_id: str, images: list[tuple[str, bytes]]) -> httpx.Response:
    files = [("images", (name, data, "image/png")) for name, data in images]
    return httpx.post(f"{stack.gateway.url}/v1/models/{job_id}/predict", files=files, timeout=60)


def test_too_many_images_says_how_many_are_allowed(stack: FinishedJobs) -> None:
    images = [(f"{i}.png", PNG) for i in range(MAX_PREDICT_IMAGES + 1)]
    response = predict(stack, stack.succeeded["id"], images)
    assert response.status_code == 422, response.text
    body = response.json()
    assert f"at most {MAX_PREDICT_IMAGES} images" in body["message"]
    assert body["errors"][0]["allowed"] == [f"1 to {MAX_PREDICT_IMAGES} images"]


def test_an_image_too_large_is_413_with_the_limit(stack: FinishedJobs) -> None:
    response = predict(
        stack, stack.succeeded["id"], [("big.png", PNG.ljust(MAX_PREDICT_IMAGE_BYTES + 1, b"\0"))]
    )
    assert response.status_code == 413, response.text
    assert f"big.png is larger than {MAX_PREDICT_IMAGE_BYTES} bytes" in response.json()["message"]


def test_an_empty_file_is_refused(stack: FinishedJobs) -> None:
    response = predict(stack, stack.succeeded["id"], [("empty.png", b"")])
    assert response.status_code == 422, response.text
    assert "empty.png is empty" in response.json()["message"]


def test_no_images_is_refused(stack: FinishedJobs) -> None:
    response = httpx.post(f"{stack.gateway.url}/v1/models/{stack.succeeded['id']}/predict")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "images"


def test_a_job_that_did_not_succeed_has_no_model(stack: FinishedJobs) -> None:
    response = predict(stack, stack.failed["id"], [("a.png", PNG)])
    assert response.status_code == 409, response.text
    assert response.json()["errors"][0]["allowed"] == ["succeeded"]
    assert predict(stack, "job-0000000000000000", [("a.png", PNG)]).status_code == 404


def test_a_framework_without_predictions_says_so(stack: FinishedJobs) -> None:
    response = predict(stack, stack.succeeded["id"], [("a.png", PNG)])
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "toy does not predict classification"
    assert body["errors"] == [
        {"field": "task", "message": "no classification predictions", "allowed": []}
    ]
