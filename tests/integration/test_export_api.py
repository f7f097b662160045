"""`POST /v1/jobs/{id}/export` and `…/evaluate` refusals, each saying what is allowed: a job with
no model (unknown, not succeeded), a format no framework offers, a framework that does not
export or evaluate. The jobs themselves run in tests/e2e/test_after_training.py and
tests/services."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.finished_jobs import FinishedJobs, finished_jobs
from tests.support.processes import Processes


@pytest.fixture(scope="module")
def stack(module_processes: Processes, tmp_path_factory: pytest.TempPathFactory) -> FinishedJobs:
    return finished_jobs(
        module_processes, tmp_path_factory.mktemp("export"), CHECKPOINT_INTERVAL_SECONDS="0"
    )


def export(stack: FinishedJobs, job_id: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.gateway.url}/v1/jobs/{job_id}/export", json=body, timeout=30)


def test_a_job_that_did_not_succeed_has_no_model_to_export(stack: FinishedJobs) -> None:
    response = export(stack, stack.failed["id"], {"format": "onnx"})
    assert response.status_code == 409, response.text
    body = response.json()
    assert "only a succeeded training job" in body["message"]
    assert body["errors"] == [
        {"field": "state", "message": "job is failed", "allowed": ["succeeded"]}
    ]


def test_an_unknown_job_is_404(stack: FinishedJobs) -> None:
    response = export(stack, "job-0000000000000000", {"format": "onnx"})
    assert response.status_code == 404, response.text


def test_an_unknown_format_says_which_are(stack: FinishedJobs) -> None:
    response = export(stack, stack.succeeded["id"], {"format": "tflite"})
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "format"
    assert error["message"] == "Input should be 'onnx' or 'torchscript'"


def test_a_framework_that_does_not_export_the_task_refuses(stack: FinishedJobs) -> None:
    """The toy framework offers no export: its service says so, and nothing is queued."""
    before = httpx.get(f"{stack.gateway.url}/v1/jobs").json()["items"]
    response = export(stack, stack.succeeded["id"], {"format": "onnx", "checkpoint": "last"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert "toy does not export classification models" in body["message"]
    assert body["errors"][0]["field"] == "export.format"
    assert len(httpx.get(f"{stack.gateway.url}/v1/jobs").json()["items"]) == len(before)


def test_a_training_job_says_its_kind(stack: FinishedJobs) -> None:
    assert stack.succeeded["kind"] == "train"
    assert stack.succeeded["source_job_id"] is None and stack.succeeded["result"] is None


def test_evaluate_refusals_say_what_is_allowed(stack: FinishedJobs) -> None:
    url = stack.gateway.url
    failed = httpx.post(f"{url}/v1/jobs/{stack.failed['id']}/evaluate", json={})
    assert failed.status_code == 409, failed.text
    assert failed.json()["errors"][0]["allowed"] == ["succeeded"]
    # The toy framework trains but does not evaluate: its service says so.
    refused = httpx.post(f"{url}/v1/jobs/{stack.succeeded['id']}/evaluate", json={})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "kind", "message": "toy does not evaluate models", "allowed": ["train"]}
    ]
    wrong = httpx.post(
        f"{url}/v1/jobs/{stack.succeeded['id']}/evaluate",
        json={"dataset": {"uri": "/data", "format": "parquet"}},
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "dataset.format"
