"""`GET /v1/jobs?kind=train|export|evaluate`: the listing filtered by what a job does (422
naming the kinds for another value), and the same through `trainyard list --kind`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.client.conftest import run_trainyard
from tests.support.finished_jobs import FinishedJobs, finished_jobs
from tests.support.processes import Processes


@pytest.fixture(scope="module")
def stack(
    module_processes: Processes, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FinishedJobs, dict[str, Any]]:
    """Two training jobs (one succeeded, one failed) and an evaluation of the succeeded one."""
    finished = finished_jobs(
        module_processes, tmp_path_factory.mktemp("kinds"), TOY_COLOUR_MODEL="1"
    )
    created = httpx.post(
        f"{finished.gateway.url}/v1/jobs/{finished.succeeded['id']}/evaluate", json={}, timeout=30
    )
    assert created.status_code == 201, created.text
    return finished, created.json()


def listed(gateway: str, **params: str) -> httpx.Response:
    return httpx.get(f"{gateway}/v1/jobs", params=params, timeout=30)


def ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {job["id"] for job in response.json()["items"]}


def test_the_listing_filters_by_kind(stack: tuple[FinishedJobs, dict[str, Any]]) -> None:
    finished, evaluation = stack
    url = finished.gateway.url
    trained = {finished.succeeded["id"], finished.failed["id"]}
    assert ids(listed(url)) == trained | {evaluation["id"]}
    assert ids(listed(url, kind="train")) == trained
    assert ids(listed(url, kind="evaluate")) == {evaluation["id"]}
    assert ids(listed(url, kind="export")) == set()
    # With the other filters: the failed job is the only failed training job.
    assert ids(listed(url, kind="train", state="failed")) == {finished.failed["id"]}


def test_another_kind_is_422_naming_the_kinds(stack: tuple[FinishedJobs, dict[str, Any]]) -> None:
    response = listed(stack[0].gateway.url, kind="predict")
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "kind"
    assert error["message"] == "Input should be 'train', 'export' or 'evaluate'"


def test_the_cli_lists_one_kind(stack: tuple[FinishedJobs, dict[str, Any]]) -> None:
    finished, evaluation = stack
    url = finished.gateway.url
    done = run_trainyard("list", "--kind", "evaluate", "--json", url=url)
    assert done.returncode == 0, done.stderr
    assert [job["id"] for job in json.loads(done.stdout)["items"]] == [evaluation["id"]]
    refused = run_trainyard("list", "--kind", "predict", url=url)
    assert refused.returncode == 2 and "422" in refused.stderr
