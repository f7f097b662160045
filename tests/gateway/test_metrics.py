"""Prometheus metrics of the gateway and of a training service, and their JSON log lines, after
real jobs ran."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for
from trainyard_gateway.db import Database
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.tokens import token_hash
from trainyard_wire.states import TERMINAL, JobState

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


def run_all(url: str, specs: list[dict]) -> list[dict]:
    """Submit the jobs together and wait until each has ended."""
    ids = [submit(url, spec, api_key=API_KEY)["id"] for spec in specs]
    return [wait_for(url, job_id, TERMINAL, timeout=60, api_key=API_KEY) for job_id in ids]


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
    jobs = run_all(gateway.url, specs)
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
            tagged = [line for line in lines if line["job_id"] == job["id"]]
            assert tagged, f"the {component} logged nothing about {job['id']}"
            # A line that names the job (an access line of one of its URLs) carries its id.
            naming = [line for line in lines if job["id"] in line["message"]]
            assert all(line["job_id"] == job["id"] for line in naming), naming
    gateway_lines = [json.loads(line) for line in stack.logs["gateway"].read_text().splitlines()]
    started = [line for line in gateway_lines if line["message"].startswith("started on the toy")]
    assert sorted(line["job_id"] for line in started) == sorted(job["id"] for job in stack.jobs)
    service_lines = [json.loads(line) for line in stack.logs["service"].read_text().splitlines()]
    runs = [line for line in service_lines if line["message"] == "run started on subprocess"]
    assert sorted(line["job_id"] for line in runs) == sorted(job["id"] for job in stack.jobs)


def insert_running_job(database_url: str, job_id: str, token: str) -> None:
    """A running job straight into the gateway's job store, to report events for."""
    db = Database(database_url)
    now = utcnow()
    try:
        with db.write() as session:
            session.add(
                Job(
                    id=job_id,
                    framework="timm",
                    task="classification",
                    model="resnet18",
                    project="metrics",
                    spec={"framework": "timm", "max_retries": 0, "resume_from": None},
                    state=JobState.RUNNING.value,
                    created_at=now,
                    updated_at=now,
                    started_at=now,
                    callback_token_hash=token_hash(token),
                    run_id=job_id,
                )
            )
    finally:
        db.engine.dispose()


@pytest.mark.parametrize("folder", ["temporary", "operator"])
def test_every_scrape_adds_up_all_production_workers(processes, tmp_path, folder):
    """gunicorn with two workers: whichever worker answers `/metrics` reports every worker's
    callback events and requests, not its own share. The metric files go to a temporary folder,
    or to the operator's PROMETHEUS_MULTIPROC_DIR, emptied of an earlier run's files first."""
    env = {}
    if folder == "operator":
        metrics_dir = tmp_path / "prometheus"
        metrics_dir.mkdir()
        # An earlier run's counts, which must not add up into this run's.
        (metrics_dir / "counter_1.db").write_bytes(b"stale")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    gateway = processes.gateway(workers=2, **env)
    job_id, token = "job-00000000000000aa", "metrics-callback-token"
    insert_running_job(gateway.database_url, job_id, token)
    batches, sent, seq = 40, 0, 0
    for batch in range(batches):
        events = []
        for _ in range(batch % 3 + 1):
            seq += 1
            events.append({"type": "log", "seq": seq, "line": f"line {seq}"})
        # A new connection each time (no client kept): the workers take turns accepting.
        response = httpx.post(
            f"{gateway.url}/internal/v1/jobs/{job_id}/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        sent += len(events)
    route = "/internal/v1/jobs/{job_id}/events"
    for _ in range(10):
        samples = scrape(gateway.url)
        assert value(samples, "trainyard_callback_events_received_total", type="log") == sent
        count = "trainyard_http_request_duration_seconds_count"
        assert value(samples, count, method="POST", route=route, status="200") == batches
        # The job store's gauges are collected once per scrape, not once per worker.
        assert value(samples, "trainyard_jobs", state="running", framework="timm") == 1
        assert value(samples, "trainyard_job_store_up") == 1
    body = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert body.count("\ntrainyard_job_store_up ") == 1, body
    log = gateway.proc.log_path.read_text()
    assert log.count("Booting worker") == 2, log
    if folder == "operator":
        # Both workers counted some callbacks: one worker's share would not have added up.
        assert len(list(metrics_dir.glob("counter_*.db"))) == 2
        assert not (metrics_dir / "counter_1.db").exists()
