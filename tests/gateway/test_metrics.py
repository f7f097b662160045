"""Prometheus metrics of the gateway and of a training service, and their JSON log lines, after
real jobs ran."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from platform_helpers import TERMINAL, tiny_dataset, toy_spec

API_KEY = "metrics-test-key"
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of `{url}/metrics`, by sample name and labels."""
    response = httpx.get(f"{url}/metrics", timeout=10)  # no API key: /metrics is open
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def run_all(client: httpx.Client, specs: list[dict]) -> list[dict]:
    """Submit the jobs together and wait until each has ended."""
    ids = []
    for spec in specs:
        created = client.post("/v1/jobs", json=spec)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = [client.get(f"/v1/jobs/{job_id}").json() for job_id in ids]
        if all(job["state"] in TERMINAL for job in jobs):
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"jobs never ended: {jobs}")


@pytest.fixture(scope="module")
def stack(module_processes, tmp_path_factory):
    """A keyed gateway and a toy service, logging JSON, that ran two jobs to success and one to
    failure."""
    service, service_url = module_processes.toy_service(MAX_CONCURRENT_RUNS="3", LOG_FORMAT="json")
    gateway = module_processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={service_url}",
        TRAINYARD_API_KEYS=API_KEY,
        TRAINYARD_ALLOW_ANONYMOUS="",
        LOG_FORMAT="json",
    )
    dataset = tiny_dataset(tmp_path_factory.mktemp("metrics") / "ds")
    specs = [toy_spec(dataset), toy_spec(dataset), toy_spec(dataset, options={"fail_at_epoch": 2})]
    with httpx.Client(base_url=gateway.url, headers=HEADERS, timeout=30) as client:
        jobs = run_all(client, specs)
    assert [job["state"] for job in jobs] == ["succeeded", "succeeded", "failed"]
    return SimpleNamespace(
        url=gateway.url,
        service_url=service_url,
        jobs=jobs,
        logs={"gateway": gateway.proc.log_path, "service": service.log_path},
    )


def test_jobs_by_state_and_queue_length_come_from_the_job_store(stack):
    samples = scrape(stack.url)
    assert value(samples, "trainyard_jobs", state="succeeded", framework="toy") == 2
    assert value(samples, "trainyard_jobs", state="failed", framework="toy") == 1
    assert value(samples, "trainyard_jobs", state="running", framework="toy") == 0
    assert value(samples, "trainyard_queue_length", framework="toy") == 0
    # Frameworks with no jobs are listed with zeros, not left out.
    timm_queued = frozenset({"state": "queued", "framework": "timm"}.items())
    assert ("trainyard_jobs", timm_queued) in samples
    assert value(samples, "trainyard_job_store_up") == 1


def test_dispatch_latency_and_callback_events_count_what_happened(stack):
    samples = scrape(stack.url)
    assert value(samples, "trainyard_dispatch_latency_seconds_count", framework="toy") == 3
    assert value(samples, "trainyard_dispatch_latency_seconds_sum", framework="toy") > 0
    events = "trainyard_callback_events_received_total"
    # Two jobs of three epochs and one that failed in its second epoch: 7 metric events,
    # running + final status for each, best and last for each success; log lines and heartbeats.
    assert value(samples, events, type="metric") >= 7
    assert value(samples, events, type="status") >= 6
    assert value(samples, events, type="artifact") >= 4
    assert value(samples, events, type="log") >= 12


def test_http_latency_is_labelled_by_route_template_and_status(stack):
    job_id = stack.jobs[0]["id"]
    assert httpx.get(f"{stack.url}/v1/jobs/{job_id}", headers=HEADERS).status_code == 200
    assert httpx.get(f"{stack.url}/v1/jobs/job-unknown", headers=HEADERS).status_code == 404
    assert httpx.get(f"{stack.url}/v1/jobs/{job_id}").status_code == 401
    assert httpx.get(f"{stack.url}/no/such/page").status_code == 404
    samples = scrape(stack.url)
    count = "trainyard_http_request_duration_seconds_count"
    route = "/v1/jobs/{job_id}"
    assert value(samples, count, method="GET", route=route, status="200") >= 1
    assert value(samples, count, method="GET", route=route, status="404") == 1
    assert value(samples, count, method="GET", route=route, status="401") == 1
    assert value(samples, count, method="GET", route="unmatched", status="404") == 1
    assert value(samples, count, method="POST", route="/v1/jobs", status="201") == 3
    # No label holds a concrete job id: the series stay bounded however many jobs run.
    assert not any(job_id in str(labels) for _, labels in samples)


def test_service_metrics_report_capacity_active_runs_and_starts(stack):
    labels = {"framework": "toy", "executor": "subprocess"}
    samples = scrape(stack.service_url)
    assert value(samples, "trainyard_service_runs_started_total", **labels) == 3
    assert value(samples, "trainyard_service_run_capacity", **labels) == 3
    # A job is finished once its final report is stored; its process may take a moment more.
    deadline = time.monotonic() + 10
    while value(samples, "trainyard_service_runs_active", **labels) != 0:
        assert time.monotonic() < deadline, "runs still counted as active"
        time.sleep(0.2)
        samples = scrape(stack.service_url)


def test_gateway_and_service_log_json_lines_with_the_job_id(stack):
    for component, path in stack.logs.items():
        # Every line parses (json.loads raises otherwise) and has the common fields.
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert all({"ts", "level", "logger", "message", "job_id"} <= set(line) for line in lines)
        for job in stack.jobs:
            about_job = [line for line in lines if job["id"] in line["message"]]
            assert about_job, f"the {component} logged nothing about {job['id']}"
            assert {line["job_id"] for line in about_job} == {job["id"]}, about_job
    gateway_lines = [json.loads(line) for line in stack.logs["gateway"].read_text().splitlines()]
    started = [line for line in gateway_lines if line["message"].startswith("started on the toy")]
    assert sorted(line["job_id"] for line in started) == sorted(job["id"] for job in stack.jobs)
    service_lines = [json.loads(line) for line in stack.logs["service"].read_text().splitlines()]
    runs = [line for line in service_lines if line["message"] == "run started on subprocess"]
    assert sorted(line["job_id"] for line in runs) == sorted(job["id"] for job in stack.jobs)
