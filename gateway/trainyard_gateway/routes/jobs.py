"""Public job API: submit, list, inspect, cancel, resume, export, logs (tail and live), metrics,
artifacts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from trainyard_gateway.cancellation import cancel
from trainyard_gateway.deps import Gateway, GatewayDep, ReadSessionDep
from trainyard_gateway.derived_jobs import evaluate_spec, export_spec
from trainyard_gateway.encoded_views import job_json, page_json
from trainyard_gateway.errors import NotFound
from trainyard_gateway.job_queries import (
    artifacts,
    get_job,
    job_view,
    log_lines,
    metrics,
)
from trainyard_gateway.job_submission import check_spec, submit
from trainyard_gateway.log_stream import stream_logs
from trainyard_gateway.model_registry import check_registry, registered_version
from trainyard_gateway.queue_limits import check_queue_room
from trainyard_gateway.resume import resume_spec
from trainyard_runtime.storage import UnsafeKeyError
from trainyard_wire.exports import EvaluateRequest, ExportRequest
from trainyard_wire.jobs import Artifact, JobList, JobView, Logs, Metrics
from trainyard_wire.registry import ModelVersion
from trainyard_wire.spec import InitFromModel, JobKind, JobSpec
from trainyard_wire.states import JobState

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

StateFilter = Annotated[JobState | None, Query(description="only jobs in this state")]


@router.post("", status_code=201, response_model=JobView)
async def create_job(spec: JobSpec, gateway: GatewayDep) -> JobView:
    await run_in_threadpool(check_spec, spec, gateway.registry)
    await run_in_threadpool(check_registry, gateway.settings, spec.register_as)
    registered = None
    if isinstance(spec.init_from, InitFromModel):  # read before the transaction, not in it
        registered = await run_in_threadpool(registered_version, gateway.settings, spec.init_from)
    # In a worker thread: a database write may wait on a lock, and must not stall the loop.
    view = await run_in_threadpool(_store_job, spec, gateway, registered)
    gateway.dispatcher.wake()
    return view


def _store_job(spec: JobSpec, gateway: Gateway, registered: ModelVersion | None) -> JobView:
    with gateway.db.write() as session:
        check_queue_room(session, spec.project, gateway.settings.max_queued_jobs_per_project)
        job = submit(session, spec, gateway.storage, registered)
        return job_view(session, job)


@router.get("", response_model=JobList)
async def list_all(
    gateway: GatewayDep,
    state: StateFilter = None,
    framework: Annotated[str | None, Query(max_length=32)] = None,
    project: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[JobKind | None, Query(description="only jobs of this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    def page() -> Response:
        encoded = page_json(
            gateway.views,
            gateway.db,
            state=state.value if state else None,
            framework=framework,
            project=project,
            kind=kind,
            limit=limit,
            cursor=cursor,
        )
        return Response(encoded, media_type="application/json")

    return await _short_read(gateway, page)


@router.get("/{job_id}", response_model=JobView)
async def get_one(job_id: str, gateway: GatewayDep) -> Response:
    def one() -> Response:
        return Response(job_json(gateway.views, gateway.db, job_id), media_type="application/json")

    return await _short_read(gateway, one)


async def _short_read(gateway: Gateway, read: Callable[[], Response]) -> Response:
    """The whole read at once: on the event loop where the job store answers in well under a
    millisecond without waiting (SQLite), else in one worker thread."""
    if gateway.db.reads_block_briefly:
        return read()
    return await run_in_threadpool(read)


@router.post("/{job_id}/cancel", response_model=JobView)
def cancel_job(job_id: str, gateway: GatewayDep) -> JSONResponse:
    done = cancel(gateway.db, gateway.registry, job_id)
    with gateway.db.read() as session:
        view = job_view(session, get_job(session, job_id))
    # 202: the service could not be reached yet; the stop is retried until it is.
    return JSONResponse(view.model_dump(mode="json"), status_code=200 if done else 202)


@router.post("/{job_id}/resume", status_code=201, response_model=JobView)
async def resume_job(job_id: str, gateway: GatewayDep) -> JobView:
    """A new job with the same spec that continues this failed, cancelled or lost one from its
    last checkpoint (409 for a job in another state or with no checkpoint)."""
    spec = await run_in_threadpool(_resume_spec, job_id, gateway)
    return await create_job(spec, gateway)


def _resume_spec(job_id: str, gateway: Gateway) -> JobSpec:
    with gateway.db.read() as session:
        return resume_spec(session, get_job(session, job_id))


@router.post("/{job_id}/export", status_code=201, response_model=JobView)
async def export_job(job_id: str, body: ExportRequest, gateway: GatewayDep) -> JobView:
    """An export job for this succeeded training job's model (`format`, `checkpoint` best or
    last): it exports, checks the file against the PyTorch model on the validation images and
    stores it as an artifact; 409 for a job with no model, 422 for a format not offered."""
    spec = await run_in_threadpool(_export_spec, job_id, body, gateway)
    return await create_job(spec, gateway)


def _export_spec(job_id: str, body: ExportRequest, gateway: Gateway) -> JobSpec:
    with gateway.db.read() as session:
        return export_spec(session, get_job(session, job_id), body)


@router.post("/{job_id}/evaluate", status_code=201, response_model=JobView)
async def evaluate_job(job_id: str, body: EvaluateRequest, gateway: GatewayDep) -> JobView:
    """An evaluation job for this succeeded training job's model, on its own validation data or
    `dataset` (same format); its metrics and details land in the evaluation job's `result`."""
    spec = await run_in_threadpool(_evaluate_spec, job_id, body, gateway)
    return await create_job(spec, gateway)


def _evaluate_spec(job_id: str, body: EvaluateRequest, gateway: Gateway) -> JobSpec:
    with gateway.db.read() as session:
        return evaluate_spec(session, get_job(session, job_id), body)


@router.get("/{job_id}/logs", response_model=Logs)
def logs(
    job_id: str,
    session: ReadSessionDep,
    tail: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Logs:
    job = get_job(session, job_id)
    return Logs(job_id=job.id, state=job.state, lines=log_lines(session, job.id, tail=tail))


@router.get("/{job_id}/logs/stream")
def logs_stream(
    job_id: str,
    session: ReadSessionDep,
    gateway: GatewayDep,
    tail: Annotated[int, Query(ge=0, le=10_000)] = 100,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    """Server-Sent Events: the last `tail` lines, then each new line until the job ends."""
    job = get_job(session, job_id)
    if last_event_id is not None:
        after = last_event_id
    else:
        recent = log_lines(session, job.id, tail=tail) if tail else []
        after = recent[0].seq - 1 if recent else 0
        if not tail:
            newest = log_lines(session, job.id, tail=1)
            after = newest[0].seq if newest else 0
    return StreamingResponse(
        stream_logs(gateway.db, job.id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{job_id}/metrics", response_model=Metrics)
def job_metrics(job_id: str, session: ReadSessionDep) -> Metrics:
    return metrics(session, get_job(session, job_id).id)


@router.get("/{job_id}/artifacts", response_model=list[Artifact])
def job_artifacts(job_id: str, session: ReadSessionDep, gateway: GatewayDep) -> list[Artifact]:
    """Checkpoints with size and checksum; `download_url` is presigned where storage can sign."""
    listed = artifacts(get_job(session, job_id))
    for artifact in listed:
        signed = _presigned(gateway, artifact.uri)
        if signed:
            artifact.download_url = signed
    return listed


def _presigned(gateway: Gateway, uri: str) -> str | None:
    try:
        return gateway.storage.presigned_url(gateway.storage.key_for(uri))
    except UnsafeKeyError:
        return None  # stored elsewhere: the streamed route answers for it


@router.get("/{job_id}/artifacts/{name}")
def download_artifact(job_id: str, name: str, session: ReadSessionDep, gateway: GatewayDep):
    found = {a.name: a for a in artifacts(get_job(session, job_id))}
    if name not in found:
        raise NotFound(f"job {job_id} has no artifact {name!r} (has: {sorted(found)})")
    artifact = found[name]
    signed = _presigned(gateway, artifact.uri)
    if signed:  # object storage serves the bytes itself
        return RedirectResponse(signed, status_code=307)
    try:
        key = gateway.storage.key_for(artifact.uri)
        stream = gateway.storage.open_read(key)
    except (UnsafeKeyError, FileNotFoundError) as exc:
        raise NotFound(f"artifact {name!r} is not readable from this gateway: {exc}") from exc

    def chunks():
        with stream:
            while block := stream.read(1 << 20):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(artifact.size),
            "X-Checksum-Sha256": artifact.sha256,
        },
    )
