"""Fine-tuning (`init_from`) and the model registry (`register_as`, GET /v1/models) on a real
gateway, the toy service and a real MLflow server.

The toy train.py says which checkpoint it started from; training on real data, with heads
re-initialised, is tried per framework in tests/services/test_fine_tuning_*.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for
from tests.support.processes import Processes, free_port
from tests.support.server_mlflow import MlflowServer


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    # Resolution does not depend on the job store: SQLite only.
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@dataclass
class Stack:
    url: str
    mlflow_url: str
    dataset: Path
    succeeded: dict[str, Any]  # a finished toy job, with best and last checkpoints
    failed: dict[str, Any]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mlflow_server: MlflowServer) -> Iterator[Stack]:
    procs = Processes(tmp_path_factory.mktemp("fine-tuning"))
    _, service_url = procs.toy_service(MLFLOW_TRACKING_URI=mlflow_server.url)
    gateway = procs.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service_url}", MLFLOW_TRACKING_URI=mlflow_server.url
    )
    dataset = tiny_dataset(tmp_path_factory.mktemp("ft-data") / "ds")
    one_epoch = {"hyperparams": {"epochs": 1}}
    succeeded = submit(gateway.url, toy_spec(dataset, **one_epoch))
    failed = submit(gateway.url, toy_spec(dataset, options={"fail_at_epoch": 1}))
    stack = Stack(
        gateway.url,
        mlflow_server.url,
        dataset,
        wait_for(gateway.url, succeeded["id"], {"succeeded"}),
        wait_for(gateway.url, failed["id"], {"failed"}),
    )
    yield stack
    procs.stop_all()


def refused(stack: Stack, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The 422's errors by field, with the message checked to name the field too."""
    response = httpx.post(f"{stack.url}/v1/jobs", json=spec)
    assert response.status_code == 422, response.text
    body = response.json()
    errors = {e["field"]: e for e in body["errors"]}
    for field in errors:
        assert field.split(".")[0] in body["message"] or field == "(body)", body
    return errors


def tuned(stack: Stack, init_from: Any, **overrides: Any) -> dict[str, Any]:
    return toy_spec(stack.dataset, init_from=init_from, hyperparams={"epochs": 1}, **overrides)


def test_init_from_refuses_what_it_cannot_start_from(stack: Stack) -> None:
    done, failed = stack.succeeded["id"], stack.failed["id"]

    unknown = refused(stack, tuned(stack, {"job": "job-nosuchjob"}))["init_from.job"]
    assert "no job 'job-nosuchjob'" in unknown["message"]
    assert unknown["allowed"] == [
        "the id of a succeeded job of a toy classification model 'counter'"
    ]

    not_done = refused(stack, tuned(stack, {"job": failed}))["init_from.job"]
    assert f"job {failed} is failed" in not_done["message"]
    assert not_done["allowed"] == ["succeeded"]

    # The timm service is not running: the gateway still checks the source before queueing.
    other = refused(stack, tuned(stack, {"job": done}, framework="timm"))["init_from.job"]
    assert "framework 'toy'" in other["message"] and "framework 'timm'" in other["message"]
    assert other["allowed"] == ["job of a timm classification model 'counter'"]

    model = refused(stack, tuned(stack, {"job": done}, model="counter-wide"))["init_from.job"]
    assert "model 'counter'" in model["message"] and "model 'counter-wide'" in model["message"]

    by_uri = f"checkpoints/projects/default/jobs/{done}/best.bin"
    uri_model = refused(stack, tuned(stack, {"uri": by_uri}, model="counter-wide"))
    assert "model 'counter-wide'" in uri_model["init_from.uri"]["message"]

    no_file = refused(stack, tuned(stack, {"uri": "checkpoints/projects/p/jobs/job-x/best.pt"}))
    assert "there is no checkpoint at" in no_file["init_from.uri"]["message"]
    outside = refused(stack, tuned(stack, {"uri": "datasets/x/best.pt"}))["init_from.uri"]
    assert "checkpoints/" in outside["message"] and outside["allowed"]

    both = refused(stack, tuned(stack, {"job": done}, resume_from=done))["init_from"]
    assert "init_from and resume_from exclude each other" in both["message"]

    form = refused(stack, tuned(stack, {"jobs": done}))["init_from"]
    assert "{'job': 'job-…'" in form["message"]

    version = refused(stack, tuned(stack, {"model": "no-such-model", "version": 1}))
    assert "no registered model 'no-such-model'" in version["init_from.model"]["message"]


def test_a_checkpoint_gone_from_storage_is_refused(stack: Stack) -> None:
    done = stack.succeeded["id"]
    job = httpx.get(f"{stack.url}/v1/jobs/{done}").json()
    best_uri = next(a["uri"] for a in job["artifacts"] if a["name"].startswith("best"))
    best = Path(best_uri.removeprefix("file://"))
    moved = best.with_name("moved")
    best.rename(moved)
    try:
        errors = refused(stack, tuned(stack, {"job": done, "checkpoint": "best"}))
        assert "there is no checkpoint at" in errors["init_from.job"]["message"]
    finally:
        moved.rename(best)


def test_fine_tuned_job_records_its_lineage(stack: Stack) -> None:
    done = stack.succeeded["id"]
    job = submit(stack.url, tuned(stack, {"job": done, "checkpoint": "last"}))
    assert job["init_from"]["job"] == done and job["init_from"]["checkpoint"] == "last"
    assert job["init_from"]["uri"].endswith(f"/jobs/{done}/last.bin")
    assert job["spec"]["init_from"] == {"uri": job["init_from"]["uri"]}
    finished = wait_for(stack.url, job["id"], {"succeeded"})
    assert finished["progress"]["epoch"] == 1  # a new training, from epoch 1
    logs = httpx.get(f"{stack.url}/v1/jobs/{job['id']}/logs").json()["lines"]
    assert any("toy init_from checkpoints/" in line["line"] for line in logs)
    run = mlflow.MlflowClient(stack.mlflow_url).get_run(finished["mlflow"]["run_id"])
    assert run.data.tags["trainyard.init_from_job"] == done
    assert run.data.tags["trainyard.init_from"] == job["init_from"]["uri"]


def test_register_as_makes_versions_listed_and_fine_tuned_from(stack: Stack) -> None:
    name = "toy-counter"
    first = submit(stack.url, toy_spec(stack.dataset, hyperparams={"epochs": 1}, register_as=name))
    first = wait_for(stack.url, first["id"], {"succeeded"})
    second = submit(stack.url, toy_spec(stack.dataset, hyperparams={"epochs": 2}, register_as=name))
    second = wait_for(stack.url, second["id"], {"succeeded"})
    assert first["registered"] == {"name": name, "version": 1}
    assert second["registered"] == {"name": name, "version": 2}

    versions = mlflow.MlflowClient(stack.mlflow_url).search_model_versions(f"name='{name}'")
    by_number = {int(v.version): v for v in versions}
    assert sorted(by_number) == [1, 2]
    tags = by_number[2].tags
    assert tags["trainyard.job_id"] == second["id"]
    assert tags["trainyard.framework"] == "toy" and tags["trainyard.model"] == "counter"
    assert tags["trainyard.dataset"] == str(stack.dataset)
    assert float(tags["trainyard.metric.accuracy"]) == second["metrics"]["accuracy"]
    assert tags["trainyard.checkpoint_uri"].endswith(f"/jobs/{second['id']}/best.bin")
    assert by_number[2].run_id == second["mlflow"]["run_id"]

    listed = httpx.get(f"{stack.url}/v1/models").json()["items"]
    model = next(m for m in listed if m["name"] == name)
    assert [v["version"] for v in model["versions"]] == [1, 2]
    assert model["versions"][0]["job_id"] == first["id"]
    assert model["versions"][1]["metrics"]["accuracy"] == second["metrics"]["accuracy"]

    job = submit(stack.url, tuned(stack, {"model": name, "version": 1}))
    assert job["init_from"]["model"] == name and job["init_from"]["version"] == 1
    assert job["init_from"]["job"] == first["id"]
    assert wait_for(stack.url, job["id"], {"succeeded"})["state"] == "succeeded"

    missing = refused(stack, tuned(stack, {"model": name, "version": 7}))["init_from.version"]
    assert missing["allowed"] == [1, 2]
    other = refused(stack, tuned(stack, {"model": name, "version": 2}, model="counter-wide"))
    assert "model 'counter-wide'" in other["init_from.model"]["message"]


def test_a_registry_that_refuses_fails_the_job_visibly(
    processes: Processes, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """The service's runs reach no MLflow: the trained job fails, saying why, checkpoints kept."""
    dead = f"http://127.0.0.1:{free_port()}"
    _, service_url = processes.toy_service(MLFLOW_TRACKING_URI=dead)
    gateway = processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service_url}", MLFLOW_TRACKING_URI=mlflow_server.url
    )
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 1}, register_as="lost")
    job = wait_for(gateway.url, submit(gateway.url, spec)["id"], {"failed"})
    assert job["error"]["reason"] == "registration_failed"
    assert "registering the best checkpoint as 'lost' failed" in job["error"]["message"]
    assert {a["name"] for a in job["artifacts"]} == {"best.bin", "last.bin"}


def test_register_as_needs_a_registry(processes: Processes, tmp_path: Path) -> None:
    _, service_url = processes.toy_service()
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), register_as="anything")
    response = httpx.post(f"{gateway.url}/v1/jobs", json=spec)
    assert response.status_code == 422, response.text
    assert "MLFLOW_TRACKING_URI" in response.json()["errors"][0]["message"]
    assert httpx.get(f"{gateway.url}/v1/models").json() == {"items": []}
