"""API keys guard every public route; limits answer a clear 4xx; probes stay open."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.datasets import tiny_dataset
from tests.support.jobs import toy_spec

KEYS = "key-alpha-0123456789,key-beta-0123456789"


@pytest.fixture(scope="module")
def gateway(module_processes):
    # No service listens for toy: jobs stay queued, which the queue limit needs.
    return module_processes.gateway(
        TRAINYARD_API_KEYS=KEYS,
        TRAINYARD_EXTRA_SERVICES="toy=http://127.0.0.1:9",
        MAX_QUEUED_JOBS_PER_PROJECT="2",
        MAX_REQUEST_BYTES="4096",
    )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/job-0000"),
        ("POST", "/v1/jobs"),
        ("POST", "/v1/jobs/job-0000/cancel"),
        ("GET", "/v1/jobs/job-0000/logs"),
        ("GET", "/v1/frameworks"),
        ("GET", "/v1/schemas/job-spec"),
        ("GET", "/v1/datasets"),
    ],
)
def test_public_routes_need_a_key(gateway, method, path):
    for headers in ({}, auth("wrong-key"), {"Authorization": "Basic a2V5"}):
        response = httpx.request(method, gateway.url + path, headers=headers, json={})
        assert response.status_code == 401, (path, headers, response.text)
        body = response.json()
        assert body["error"] == "unauthorized"
        assert "TRAINYARD_API_KEYS" in body["message"]
        assert response.headers["www-authenticate"] == "Bearer"


def test_every_configured_key_works_and_probes_are_open(gateway):
    for key in KEYS.split(","):
        assert httpx.get(f"{gateway.url}/v1/jobs", headers=auth(key)).status_code == 200
    assert httpx.get(f"{gateway.url}/health").status_code == 200
    assert httpx.get(f"{gateway.url}/ready").status_code == 200


def test_keys_never_appear_in_the_log(gateway):
    log = gateway.proc.log_path.read_text()
    assert "key-alpha" not in log and "key-beta" not in log


def test_queued_jobs_per_project_are_capped(gateway, tmp_path):
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), project="capped")
    key = auth(KEYS.split(",")[0])
    for _ in range(2):
        created = httpx.post(f"{gateway.url}/v1/jobs", json=spec, headers=key, timeout=30)
        assert created.status_code == 201, created.text
    refused = httpx.post(f"{gateway.url}/v1/jobs", json=spec, headers=key, timeout=30)
    assert refused.status_code == 429
    assert "MAX_QUEUED_JOBS_PER_PROJECT=2" in refused.json()["message"]
    other = httpx.post(
        f"{gateway.url}/v1/jobs", json={**spec, "project": "other"}, headers=key, timeout=30
    )
    assert other.status_code == 201, "the cap is per project"


def test_oversized_bodies_are_refused_before_they_are_read(gateway, tmp_path):
    key = auth(KEYS.split(",")[0])
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), name="x" * 5000)
    declared = httpx.post(f"{gateway.url}/v1/jobs", json=spec, headers=key)
    assert declared.status_code == 413
    assert "MAX_REQUEST_BYTES" in declared.json()["message"]

    def chunks():
        yield b'{"framework": "toy", "name": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    streamed = httpx.post(
        f"{gateway.url}/v1/jobs",
        content=chunks(),
        headers={**key, "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    # The gateway is still fine afterwards.
    assert httpx.get(f"{gateway.url}/v1/jobs", headers=key).status_code == 200


def test_no_keys_and_no_opt_in_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_")}
    env |= {"TRAINYARD_DATA_DIR": str(tmp_path), "PORT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "trainyard_gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "TRAINYARD_ALLOW_ANONYMOUS=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_anonymous_development_mode_warns(processes):
    gw = processes.gateway()  # the harness opts in to anonymous access
    assert httpx.get(f"{gw.url}/v1/jobs").status_code == 200
    assert "TRAINYARD_ALLOW_ANONYMOUS=1" in gw.proc.log_path.read_text()
