"""A training service in process, behind `httpx.MockTransport`, and dispatchers wired to it.

It answers the internal service API the way the service kit does (health with capacity, start
idempotent on the job id, 429 when full, 404 for an unknown run, runs looked up by id), and
can be switched down
(connection refused) or made to reject starts (422 with field errors).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from trainyard_gateway.db import Database
from trainyard_gateway.dispatcher import Dispatcher
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.service_client import ServiceConnections
from trainyard_gateway.services import ServiceRegistry
from trainyard_gateway.settings import GatewaySettings

URL = "http://toy.test"
TOKEN = "test-internal-token"
CAPABILITIES = {
    "framework": "toy",
    "tasks": {"classification": {"dataset_formats": ["imagefolder"], "models": ["counter"]}},
    "options_schema": {},
    "versions": {"toy": "1"},
    "device": "cpu",
}


def toy_spec(priority: int = 0) -> dict[str, Any]:
    return {
        "framework": "toy",
        "task": "classification",
        "model": "counter",
        "dataset": {"uri": "/data/tiny", "format": "imagefolder"},
        "hyperparams": {"epochs": 1},
        "priority": priority,
    }


def queued_job(job_id: str, *, priority: int = 0, created_at: datetime | None = None) -> Job:
    now = created_at or utcnow()
    return Job(
        id=job_id,
        framework="toy",
        task="classification",
        model="counter",
        project="p",
        priority=priority,
        spec=toy_spec(priority),
        state="queued",
        created_at=now,
        updated_at=now,
        cancel_requested=False,
        attempt=1,
    )


class FakeService:
    def __init__(self, capacity: int = 2, start_delay: float = 0.0) -> None:
        self.capacity = capacity
        self.start_delay = start_delay  # seconds a start takes: lets two gateways overlap
        self.down = False
        self.reject: tuple[str, list[dict[str, Any]]] | None = None
        self.runs: dict[str, dict[str, Any]] = {}
        self.starts: list[str] = []  # job ids, in the order their first start arrived
        self.tokens: dict[str, str] = {}  # job id -> the callback token its start carried
        self.on_start: list[Any] = []  # called as each start arrives, before it is answered
        self.listings = 0  # POST /v1/run-lookup calls: the monitor's one call per round
        self.refuse_listing = False
        self.refusals = 0  # starts answered 429
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def running(self) -> int:
        return sum(run["ended_at"] is None for run in self.runs.values())

    def end(self, run_id: str, status: str = "succeeded", exit_code: int = 0, ago: float = 60):
        run = self.runs[run_id]
        ended = datetime.now(UTC) - timedelta(seconds=ago)
        run.update(status=status, exit_code=exit_code, ended_at=ended.isoformat())

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        method, parts = request.method, request.url.path.strip("/").split("/")
        if (method, parts) == ("GET", ["health"]):
            return httpx.Response(200, json=self._health())
        if (method, parts) == ("GET", ["v1", "capabilities"]):
            return httpx.Response(200, json=CAPABILITIES)
        if (method, parts) == ("POST", ["v1", "validate"]):
            return httpx.Response(200, json={"ok": True})
        if (method, parts) == ("POST", ["v1", "runs"]):
            return self._start(request)
        if (method, parts) == ("POST", ["v1", "run-lookup"]):
            self.listings += 1
            if self.refuse_listing:  # as when one of the service's executors is away
                return httpx.Response(503, json={"error": "unavailable", "message": "away"})
            wanted = httpx.Response(200, content=request.content).json()["run_ids"]
            return httpx.Response(200, json=[self.runs[i] for i in wanted if i in self.runs])
        run = self.runs.get(parts[2]) if len(parts) >= 3 and parts[1] == "runs" else None
        if run is None:
            return httpx.Response(404, json={"error": "not found", "message": "no such run"})
        if method == "GET" and len(parts) == 3:
            return httpx.Response(200, json=run)
        if method == "POST" and parts[3:] == ["stop"]:
            if run["ended_at"] is None:
                run.update(status="stopped", ended_at=datetime.now(UTC).isoformat())
            run["stop_requested"] = True
            return httpx.Response(200, json=run)
        if method == "GET" and parts[3:] == ["logs"]:
            return httpx.Response(200, json={"run_id": run["run_id"], "lines": ["last line"]})
        return httpx.Response(404, json={"error": "not found", "message": request.url.path})

    def _health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "framework": "toy",
            "versions": {"toy": "1"},
            "device": "cpu",
            "running": self.running(),
            "capacity": self.capacity,
        }

    def _start(self, request: httpx.Request) -> httpx.Response:
        body = httpx.Response(200, content=request.content).json()
        if self.reject is not None:
            message, errors = self.reject
            return httpx.Response(
                422, json={"error": "unprocessable entity", "message": message, "errors": errors}
            )
        for hook in self.on_start:
            hook()
        time.sleep(self.start_delay)
        job_id = body["job_id"]
        with self._lock:
            if job_id in self.runs:
                return httpx.Response(200, json=self.runs[job_id])
            if self.running() >= self.capacity:
                self.refusals += 1
                return httpx.Response(
                    429, json={"error": "too many requests", "message": "no free slot"}
                )
            self.starts.append(job_id)
            self.tokens[job_id] = body["callback_token"]
            self.runs[job_id] = {
                "run_id": job_id,
                "status": "running",
                "executor": "subprocess",
                "started_at": datetime.now(UTC).isoformat(),
                "ended_at": None,
                "pid": 1000 + len(self.runs),
                "exit_code": None,
                "signal": None,
                "reason": None,
                "stop_requested": False,
            }
            return httpx.Response(201, json=self.runs[job_id])


def settings(**values: Any) -> GatewaySettings:
    base: dict[str, Any] = {
        "internal_token": TOKEN,
        "dispatch_interval": 3600.0,  # rounds run when a test says so (tick) or on a wake
        "service_poll_interval": 3600.0,
        "exit_grace_seconds": 0.0,
    }
    return GatewaySettings(**{**base, **values})


def registry(service: FakeService) -> ServiceRegistry:
    connections = ServiceConnections(TOKEN, transport=service.transport())
    return ServiceRegistry({"toy": URL}, TOKEN, connections=connections)


def dispatcher(db: Database, service: FakeService, **values: Any) -> Dispatcher:
    return Dispatcher(db, registry(service), settings(**values))
