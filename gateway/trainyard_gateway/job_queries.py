"""Reading jobs and their events back: views, listing with cursors, logs, metrics, artifacts."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from trainyard_gateway.db import ReadSession
from trainyard_gateway.errors import InvalidInput, JobNotFound
from trainyard_gateway.models import Job, JobEvent
from trainyard_wire.events import StoppedEarly
from trainyard_wire.jobs import (
    Artifact,
    EpochMetrics,
    JobView,
    LogLine,
    Metrics,
    Progress,
    QueueInfo,
)
from trainyard_wire.states import JobState


def get_job(session: ReadSession, job_id: str, *, for_update: bool = False) -> Job:
    job = session.get(Job, job_id, with_for_update=for_update)
    if job is None:
        raise JobNotFound(job_id)
    return job


def queue_position(session: ReadSession, job: Job) -> int:
    """1-based place among queued jobs of its framework: higher priority first, then oldest."""
    ahead = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.state == JobState.QUEUED,
            Job.framework == job.framework,
            or_(
                Job.priority > job.priority,
                and_(Job.priority == job.priority, Job.created_at < job.created_at),
            ),
        )
    )
    return int(ahead or 0) + 1


def artifacts(session: ReadSession, job_id: str) -> list[Artifact]:
    return artifacts_of(session, [job_id]).get(job_id, [])


def artifacts_of(session: ReadSession, job_ids: list[str]) -> dict[str, list[Artifact]]:
    """Each job's artifacts, in one query for all of them (a listing page is one round trip)."""
    rows = session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id.in_(job_ids), JobEvent.type == "artifact")
        .order_by(JobEvent.job_id, JobEvent.seq)
    )
    latest: dict[str, dict[str, Artifact]] = {}
    for row in rows:  # a later upload of the same name replaces the earlier one
        data = row.data
        latest.setdefault(row.job_id, {})[data["name"]] = Artifact(
            name=data["name"],
            kind=data.get("kind", "checkpoint"),
            uri=data["uri"],
            size=data["size"],
            sha256=data["sha256"],
            created_at=row.time,
            download_url=f"/v1/jobs/{row.job_id}/artifacts/{data['name']}",
        )
    return {job_id: list(named.values()) for job_id, named in latest.items()}


def stopped_early_of(session: ReadSession, jobs: list[Job]) -> dict[str, StoppedEarly]:
    """Why each job that early stopping ended stopped, from its `succeeded` status event.

    The event store holds it (no column of its own); only succeeded jobs whose spec asks for
    early stopping are looked up, all in one query.
    """
    ids = [
        job.id
        for job in jobs
        if job.state == JobState.SUCCEEDED and job.spec.get("early_stopping") is not None
    ]
    if not ids:
        return {}
    rows = session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id.in_(ids), JobEvent.type == "status")
        .order_by(JobEvent.job_id, JobEvent.seq)
    )
    found: dict[str, StoppedEarly] = {}
    for row in rows:
        data = row.data
        if data.get("state") == JobState.SUCCEEDED and data.get("stopped_early"):
            found[row.job_id] = StoppedEarly.model_validate(data["stopped_early"])
    return found


def derived_of(session: ReadSession, job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The export and evaluation jobs made from each job, in one query."""
    rows = session.execute(
        select(Job.source_job_id, Job.id, Job.kind, Job.state)
        .where(Job.source_job_id.in_(job_ids))
        .order_by(Job.created_at, Job.id)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for source, job_id, kind, state in rows:
        found.setdefault(str(source), []).append({"id": job_id, "kind": kind, "state": state})
    return found


def job_views(session: ReadSession, jobs: list[Job]) -> list[JobView]:
    by_job = artifacts_of(session, [job.id for job in jobs])
    stopped = stopped_early_of(session, jobs)
    derived = derived_of(session, [job.id for job in jobs])
    return [
        job_view(session, job, by_job.get(job.id, []), stopped, derived.get(job.id, []))
        for job in jobs
    ]


def job_view(
    session: ReadSession,
    job: Job,
    known_artifacts: list[Artifact] | None = None,
    known_stopped_early: dict[str, StoppedEarly] | None = None,
    known_derived: list[dict[str, Any]] | None = None,
) -> JobView:
    total = job.total_epochs or job.spec.get("hyperparams", {}).get("epochs")
    if job.state == JobState.SUCCEEDED:
        percent = 100.0
    else:
        percent = round(100.0 * (job.epoch or 0) / total, 1) if total else 0.0
    queue = None
    if job.state == JobState.QUEUED:
        queue = QueueInfo(position=queue_position(session, job), reason=job.queue_reason)
    return JobView(
        id=job.id,
        state=job.state,
        framework=job.framework,
        task=job.task,
        model=job.model,
        project=job.project,
        name=job.name,
        priority=job.priority,
        executor=job.executor,
        spec=job.spec,
        progress=Progress(
            epoch=job.epoch, total_epochs=total, percent=percent, eta_seconds=job.eta_seconds
        ),
        metrics=job.metrics,
        error=job.error,
        queue=queue,
        service_unreachable_since=job.service_unreachable_since,
        artifacts=artifacts(session, job.id) if known_artifacts is None else known_artifacts,
        mlflow=job.mlflow,
        run_id=job.run_id,
        attempt=job.attempt,
        retries=job.retries or [],
        resumed_from=job.resumed_from,
        kind=job.kind,
        source_job_id=job.source_job_id,
        result=job.result,
        derived=(
            derived_of(session, [job.id]).get(job.id, [])
            if known_derived is None
            else known_derived
        ),
        stopped_early=(
            stopped_early_of(session, [job]) if known_stopped_early is None else known_stopped_early
        ).get(job.id),
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_event_at=job.last_event_at,
    )


def encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, job_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(job_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            "invalid cursor: pass the next_cursor value of a previous page unchanged"
        ) from exc


def list_jobs(
    session: ReadSession,
    *,
    state: str | None,
    framework: str | None,
    project: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Job], str | None]:
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    if state:
        query = query.where(Job.state == state)
    if framework:
        query = query.where(Job.framework == framework)
    if project:
        query = query.where(Job.project == project)
    if cursor:
        created, job_id = decode_cursor(cursor)
        query = query.where(
            or_(Job.created_at < created, and_(Job.created_at == created, Job.id < job_id))
        )
    jobs = list(session.scalars(query))
    next_cursor = encode_cursor(jobs[limit - 1]) if len(jobs) > limit else None
    return jobs[:limit], next_cursor


def log_lines(
    session: ReadSession,
    job_id: str,
    *,
    tail: int | None = None,
    after_seq: int = 0,
    limit: int = 1000,
) -> list[LogLine]:
    query = select(JobEvent).where(
        JobEvent.job_id == job_id, JobEvent.type == "log", JobEvent.seq > after_seq
    )
    if tail is not None:
        rows = list(session.scalars(query.order_by(JobEvent.seq.desc()).limit(tail)))[::-1]
    else:
        rows = list(session.scalars(query.order_by(JobEvent.seq).limit(limit)))
    return [
        LogLine(seq=r.seq, time=r.time, stream=r.data.get("stream", "stdout"), line=r.data["line"])
        for r in rows
    ]


def metrics(session: ReadSession, job_id: str) -> Metrics:
    rows = session.scalars(
        select(JobEvent)
        .where(JobEvent.job_id == job_id, JobEvent.type == "metric")
        .order_by(JobEvent.seq)
    )
    by_epoch: dict[int, EpochMetrics] = {}
    for row in rows:  # a repeated epoch (a resumed run) keeps its latest values
        data: dict[str, Any] = row.data
        by_epoch[data["epoch"]] = EpochMetrics(
            epoch=data["epoch"],
            total_epochs=data["total_epochs"],
            time=row.time,
            metrics=data["metrics"],
        )
    epochs = [by_epoch[e] for e in sorted(by_epoch)]
    series: dict[str, list[tuple[int, float | None]]] = {}
    for item in epochs:
        for name, value in item.metrics.items():
            series.setdefault(name, []).append((item.epoch, value))
    return Metrics(job_id=job_id, epochs=epochs, series=series)
