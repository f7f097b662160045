"""Liveness, readiness, and what a job may ask for: the frameworks the gateway routes to and
the job spec's JSON schema (forms such as the dashboard's New job page are built from both)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from trainyard_gateway.deps import GatewayDep
from trainyard_wire.spec import JobSpec

router = APIRouter(tags=["system"])  # open: probes must not need a key
public_router = APIRouter(tags=["system"])  # behind the API key, like every /v1 route


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(gateway: GatewayDep) -> JSONResponse:
    try:
        with gateway.db.read() as session:
            session.execute(text("SELECT 1"))
        database: dict[str, Any] = {"ok": True}
    except SQLAlchemyError as exc:
        database = {"ok": False, "error": type(exc).__name__}
    services = {
        fw: {"healthy": s.healthy, "error": s.error, "url": s.url}
        for fw, s in gateway.registry.statuses.items()
    }
    # Ready to take jobs when the store works; a service that is down only delays its jobs.
    body = {"ready": database["ok"], "database": database, "services": services}
    return JSONResponse(body, status_code=200 if database["ok"] else 503)


@public_router.get("/v1/frameworks")
def frameworks(gateway: GatewayDep) -> list[dict[str, Any]]:
    """Every service, asked now: URL, health, versions, device, tasks, models, options schema."""
    registry = gateway.registry
    with ThreadPoolExecutor(max_workers=max(1, len(registry.frameworks))) as pool:
        statuses = list(pool.map(registry.poll, registry.frameworks))
    return [status.view() for status in statuses]


@public_router.get("/v1/schemas/job-spec")
def job_spec_schema() -> dict[str, Any]:
    """The JSON schema of `POST /v1/jobs`' body: fields, types, bounds, defaults, descriptions."""
    return JobSpec.model_json_schema()
