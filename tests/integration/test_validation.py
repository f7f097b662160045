"""Bad input answers 422 saying what is wrong and what is allowed; nothing is stored."""

from __future__ import annotations

import httpx
import pytest

from tests.support.datasets import tiny_dataset
from tests.support.jobs import toy_spec


@pytest.fixture(scope="module")
def gateway(module_processes):
    _, service_url = module_processes.toy_service()
    return module_processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")


def post(gateway, spec):
    return httpx.post(f"{gateway.url}/v1/jobs", json=spec, timeout=30)


def errors_by_field(response):
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "unprocessable content" or body["error"].startswith("unprocessable")
    assert body["message"]
    return {e["field"]: e for e in body["errors"]}


def test_invalid_spec_names_the_bad_field(tmp_path, gateway):
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 0})
    errors = errors_by_field(post(gateway, spec))
    assert "greater than or equal to 1" in errors["hyperparams.epochs"]["message"]


def test_unknown_field_lists_allowed_fields(tmp_path, gateway):
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"epochz": 3})
    errors = errors_by_field(post(gateway, spec))
    assert errors["hyperparams.epochz"]["message"] == "unknown field"
    assert "epochs" in errors["hyperparams.epochz"]["allowed"]


def test_bad_enum_value_lists_allowed_values(tmp_path, gateway):
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"optimizer": "lion"})
    errors = errors_by_field(post(gateway, spec))
    assert "'sgd', 'adam' or 'adamw'" in errors["hyperparams.optimizer"]["message"]


def test_missing_and_malformed_bodies(gateway):
    errors = errors_by_field(post(gateway, {"framework": "toy"}))
    assert {"task", "model", "dataset"} <= set(errors)
    raw = httpx.post(
        f"{gateway.url}/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert raw.status_code == 422 and "json" in raw.text.lower()


def test_unknown_framework_lists_frameworks(tmp_path, gateway):
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), framework="keras")
    errors = errors_by_field(post(gateway, spec))
    assert errors["framework"]["allowed"] == ["huggingface", "timm", "toy", "ultralytics"]


def test_unknown_model_task_and_option_come_from_the_service(tmp_path, gateway):
    ds = tiny_dataset(tmp_path / "ds")
    errors = errors_by_field(post(gateway, toy_spec(ds, model="resnet9000")))
    assert errors["model"]["allowed"] == ["counter", "counter-wide"]
    errors = errors_by_field(post(gateway, toy_spec(ds, task="pose")))
    assert errors["task"]["allowed"] == ["classification"]
    errors = errors_by_field(post(gateway, toy_spec(ds, dataset={"format": "yolo"})))
    assert errors["dataset.format"]["allowed"] == ["imagefolder"]
    errors = errors_by_field(post(gateway, toy_spec(ds, options={"warp": 9})))
    assert errors["options.warp"]["message"] == "unknown field"
    errors = errors_by_field(post(gateway, toy_spec(ds, executor="kubernetes")))
    assert errors["executor"]["allowed"] == ["subprocess"]
    errors = errors_by_field(post(gateway, toy_spec(ds, early_stopping={"metric": "top1"})))
    assert errors["early_stopping.metric"]["allowed"] == ["loss", "accuracy"]


def test_unsupported_dataset_location(gateway):
    spec = toy_spec("placeholder", dataset={"uri": "ftp://example/data"})
    errors = errors_by_field(post(gateway, spec))
    assert "dataset.uri" in errors


def test_a_local_dataset_that_does_not_exist_is_refused(tmp_path, gateway):
    """Checked by the service, on the machine where train.py would look for it."""
    for uri in (str(tmp_path / "nowhere"), (tmp_path / "nowhere").as_uri()):
        response = post(gateway, toy_spec(uri, project="missing"))
        error = errors_by_field(response)["dataset.uri"]
        assert f"{tmp_path / 'nowhere'} does not exist" in error["message"]
        assert "service's machine" in error["message"]
        assert "a folder that exists there" in error["allowed"]
        assert "does not exist" in response.json()["message"]
    listed = httpx.get(f"{gateway.url}/v1/jobs", params={"project": "missing"}).json()
    assert listed["items"] == []


def test_a_format_no_framework_trains_from_names_the_tasks_formats(tmp_path, gateway):
    """coco data can be registered (POST /v1/datasets) but no framework trains from it."""
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), dataset={"format": "coco"})
    error = errors_by_field(post(gateway, spec))["dataset.format"]
    assert error["allowed"] == ["imagefolder"]
    assert "does not train classification from coco" in error["message"]
    assert "classification: imagefolder" in error["message"]


def test_nothing_is_stored_for_refused_jobs_and_bad_queries(tmp_path, gateway):
    post(gateway, toy_spec(tiny_dataset(tmp_path / "ds"), model="nope", project="refused"))
    listed = httpx.get(f"{gateway.url}/v1/jobs", params={"project": "refused"}).json()
    assert listed == {"items": [], "next_cursor": None}
    bad = httpx.get(f"{gateway.url}/v1/jobs", params={"state": "sleeping"})
    assert bad.status_code == 422 and "queued" in bad.text
    bad = httpx.get(f"{gateway.url}/v1/jobs", params={"cursor": "garbage"})
    assert bad.status_code == 422 and "cursor" in bad.json()["message"]
    missing = httpx.get(f"{gateway.url}/v1/jobs/job-nope")
    assert missing.status_code == 404 and "job-nope" in missing.json()["message"]
