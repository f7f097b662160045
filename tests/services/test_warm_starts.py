"""A training service's warm runner through its HTTP API: runs fork warm, a killed runner is
replaced and said so in /health, and WARM_STARTS=0 starts every run cold (toy framework)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for


def warm_runner(service_url: str) -> dict[str, Any]:
    return httpx.get(f"{service_url}/health", timeout=10).json()["warm_runner"]


def wait_warm_runner(service_url: str, restarts: int = 0, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = warm_runner(service_url)
        if state["ready"] and state["restarts"] == restarts:
            return state
        time.sleep(0.1)
    raise AssertionError(f"warm runner not ready after {restarts} restart(s): {state}")


def run_of(service_url: str, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The service's run once its process has ended (it reports `succeeded` just before)."""
    deadline = time.monotonic() + 30
    while True:
        run = httpx.get(f"{service_url}/v1/runs/{job_id}", headers=headers, timeout=10).json()
        if run["ended_at"] is not None or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def test_runs_fork_warm_and_a_killed_runner_is_replaced(tmp_path, processes, internal_headers):
    _, service_url = processes.toy_service()
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    state = wait_warm_runner(service_url)
    assert state["enabled"] and state["last_failure"] is None
    assert "toy_framework.plugin" in state["imports"]
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 1})

    first = submit(gateway.url, spec)
    wait_for(gateway.url, first["id"], {"succeeded"})
    run = run_of(service_url, first["id"], internal_headers)
    assert (run["warm_start"], run["status"], run["exit_code"]) == (True, "succeeded", 0)

    os.kill(state["pid"], signal.SIGKILL)
    replaced = wait_warm_runner(service_url, restarts=1)
    assert replaced["pid"] != state["pid"]
    assert replaced["last_failure"] == f"warm runner {state['pid']} ended with signal SIGKILL"

    second = submit(gateway.url, spec)
    wait_for(gateway.url, second["id"], {"succeeded"})
    assert run_of(service_url, second["id"], internal_headers)["warm_start"] is True


def test_warm_starts_switched_off(tmp_path, processes, internal_headers):
    _, service_url = processes.toy_service(WARM_STARTS="0")
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    state = warm_runner(service_url)
    assert (state["enabled"], state["ready"], state["pid"]) == (False, False, None)
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 1}))
    wait_for(gateway.url, job["id"], {"succeeded"})
    assert run_of(service_url, job["id"], internal_headers)["warm_start"] is False
