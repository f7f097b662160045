"""What the fault tests share: the stack, a run's folder, and a job's stored event log."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import INTERNAL_TOKEN, Gateway, Processes
from tests.support.server_s3 import S3Server
from trainyard_dev.launcher import ManagedProcess


@dataclass
class Stack:
    processes: Processes
    s3: S3Server
    service: ManagedProcess
    service_url: str
    gateway: Gateway

    @property
    def url(self) -> str:
        return self.gateway.url

    def run_dir(self, job_id: str) -> Path:
        return self.processes.root / "data-toy" / "services" / "toy" / "runs" / job_id


def toy_stack(
    processes: Processes, s3: S3Server, service_env: dict[str, str], **gateway_env: str
) -> Stack:
    """A toy training service and a gateway routing `toy` to it."""
    service, service_url = processes.toy_service(**service_env)
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}", **gateway_env)
    return Stack(processes, s3, service, service_url, gateway)


def wait_file(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def service_run(service_url: str, run_id: str) -> dict[str, Any]:
    """The run as its service tells the gateway (GET /v1/runs/{id})."""
    response = httpx.get(
        f"{service_url}/v1/runs/{run_id}",
        headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def stored_events(gateway: Gateway, job_id: str) -> list[dict[str, Any]]:
    """The job's events as the gateway stored them (its SQLite file), in seq order."""
    path = gateway.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT seq, type, data FROM job_events WHERE job_id = ? ORDER BY seq", (job_id,)
        ).fetchall()
    return [{"seq": seq, "type": kind, **json.loads(data)} for seq, kind, data in rows]


def intact_event_log(gateway: Gateway, job_id: str) -> list[dict[str, Any]]:
    """The stored events, checked: numbered 1, 2, 3… with none missing and none twice."""
    events = stored_events(gateway, job_id)
    seqs = [event["seq"] for event in events]
    assert seqs, f"no events stored for {job_id}"
    assert seqs == list(range(1, len(seqs) + 1)), f"event log of {job_id} has gaps: {seqs}"
    return events


def log_lines(events: list[dict[str, Any]], prefix: str = "epoch ") -> list[str]:
    return [e["line"] for e in events if e["type"] == "log" and e["line"].startswith(prefix)]
