"""Reading jobs and their events back: views, listing with cursors, logs, metrics, artifacts."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Connection, Row, Select, and_, bindparam, func, or_, select

from trainyard_gateway.db import ReadSession
from trainyard_gateway.errors import InvalidInput, JobNotFound
from trainyard_gateway.models import Job, JobEvent
from trainyard_wire.events import RegisteredVersion, StoppedEarly
from trainyard_wire.jobs import (
    Artifact,
    EpochMetrics,
    JobView,
    LogLine,
    Metrics,
    Progress,
    QueueInfo,
    WeightsUsed,
)
from trainyard_wire.states import JobState

# A job as the ORM loads it, or a plain row of its table: the read path builds views from rows,
# without the ORM's per-object bookkeeping (most of the time a one-job answer took).
JobRecord = Job | Row[Any]
JOBS = Job.__table__
# Built once: a statement made per request costs more to build than to run on SQLite.
_ONE_JOB = select(JOBS).where(JOBS.c.id == bindparam("job_id"))
_DERIVED = (
    select(JOBS.c.source_job_id, JOBS.c.id, JOBS.c.kind, JOBS.c.state)
    .where(JOBS.c.source_job_id.in_(bindparam("ids", expanding=True)))
    .order_by(JOBS.c.created_at, JOBS.c.id)
)


def get_job(session: ReadSession, job_id: str, *, for_update: bool = False) -> Job:
    job = session.get(Job, job_id, with_for_update=for_update)
    if job is None:
        raise JobNotFound(job_id)
    return job


def read_job(session: ReadSession, job_id: str) -> Row[Any]:
    """The job's row, to read only (no ORM object: nothing to change or flush)."""
    row = session.connection().execute(_ONE_JOB, {"job_id": job_id}).one_or_none()
    if row is None:
        raise JobNotFound(job_id)
    return row


def queue_position(session: ReadSession, job: JobRecord) -> int:
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


def artifacts_from_events(
    job_id: str, events: Iterable[tuple[datetime, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """A job's artifacts from its `artifact` events (time and data, in seq order), as the job
    row keeps them: a later upload of a name replaces the earlier one in its place."""
    named: dict[str, dict[str, Any]] = {}
    for time, data in events:
        named[data["name"]] = Artifact(
            name=data["name"],
            kind=data.get("kind", "checkpoint"),
            uri=data["uri"],
            size=data["size"],
            sha256=data["sha256"],
            created_at=time,
            download_url=f"/v1/jobs/{job_id}/artifacts/{data['name']}",
        ).model_dump(mode="json")
    return list(named.values())


def logged_artifacts(session: ReadSession, job_id: str) -> list[dict[str, Any]]:
    """The job's artifacts as its event log says, for the row to keep."""
    rows = session.execute(
        select(JobEvent.time, JobEvent.data)
        .where(JobEvent.job_id == job_id, JobEvent.type == "artifact")
        .order_by(JobEvent.seq)
    )
    return artifacts_from_events(job_id, ((time, data) for time, data in rows))


def artifacts(job: JobRecord) -> list[Artifact]:
    """The job's artifacts, kept on its row by the ingest of its events."""
    return [Artifact.model_validate(each) for each in job.artifacts or []]


def stopped_early(job: JobRecord) -> StoppedEarly | None:
    """Why early stopping ended this succeeded job, if it did (kept on the row at ingest)."""
    if job.stopped_early is None or job.state != JobState.SUCCEEDED:
        return None
    if job.spec.get("early_stopping") is None:
        return None
    return StoppedEarly.model_validate(job.stopped_early)


def logged_weights(session: ReadSession, job_id: str) -> dict[str, Any] | None:
    """The job's last `weights` event (which tier served its latest run), for the row to keep."""
    data = session.scalar(
        select(JobEvent.data)
        .where(JobEvent.job_id == job_id, JobEvent.type == "weights")
        .order_by(JobEvent.seq.desc())
        .limit(1)
    )
    return None if data is None else WeightsUsed.model_validate(data).model_dump(mode="json")


def weights(job: JobRecord) -> WeightsUsed | None:
    """The pretrained weights the job's latest run loaded (kept on its row at ingest)."""
    if job.weights is None or not job.spec.get("hyperparams", {}).get("pretrained"):
        return None
    return WeightsUsed.model_validate(job.weights)


def registered(job: JobRecord) -> RegisteredVersion | None:
    """The model registry version a succeeded job became (kept on its row at ingest)."""
    if job.registered is None or job.state != JobState.SUCCEEDED:
        return None
    return RegisteredVersion.model_validate(job.registered)


def derived_of(conn: Connection, job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The export and evaluation jobs made from each job, in one query."""
    rows = conn.execute(_DERIVED, {"ids": job_ids})
    found: dict[str, list[dict[str, Any]]] = {}
    for source, job_id, kind, state in rows:
        found.setdefault(str(source), []).append({"id": job_id, "kind": kind, "state": state})
    return found


def job_views(session: ReadSession, jobs: Sequence[JobRecord]) -> list[JobView]:
    derived = derived_of(session.connection(), [job.id for job in jobs])
    return [job_view(session, job, derived.get(job.id, [])) for job in jobs]


def job_view(
    session: ReadSession, job: JobRecord, known_derived: list[dict[str, Any]] | None = None
) -> JobView:
    """What the API answers for a job: its row, plus its place in the queue while queued, and
    the export and evaluation jobs made from it."""
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
        artifacts=artifacts(job),
        mlflow=job.mlflow,
        run_id=job.run_id,
        attempt=job.attempt,
        retries=job.retries or [],
        resumed_from=job.resumed_from,
        stopped_early=stopped_early(job),
        weights=weights(job),
        init_from=job.init_from,
        registered=registered(job),
        kind=job.kind,
        source_job_id=job.source_job_id,
        result=job.result,
        derived=(
            derived_of(session.connection(), [job.id]).get(job.id, [])
            if known_derived is None
            else known_derived
        ),
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_event_at=job.last_event_at,
    )


def encode_cursor(job: JobRecord) -> str:
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


_PAGE_FILTERS = ("state", "framework", "project", "kind", "created")
_PAGE_QUERIES: dict[tuple[Any, ...], Select[Any]] = {}


def _page_query(columns: tuple[Any, ...], filters: tuple[str, ...]) -> Select[Any]:
    """The listing's statement for these columns and filters, built once (a few dozen
    combinations): building one costs more than running it on SQLite."""
    key = (columns, filters)
    query = _PAGE_QUERIES.get(key)
    if query is not None:
        return query
    query = (
        select(*columns)
        .order_by(JOBS.c.created_at.desc(), JOBS.c.id.desc())
        .limit(bindparam("limit"))
    )
    for name in filters:
        if name == "created":  # the cursor: after the previous page's last job
            created: BindParameter[datetime] = bindparam("created")
            query = query.where(
                or_(
                    JOBS.c.created_at < created,
                    and_(JOBS.c.created_at == created, JOBS.c.id < bindparam("after_id")),
                )
            )
        else:
            query = query.where(JOBS.c[name] == bindparam(name))
    _PAGE_QUERIES[key] = query
    return query


def list_jobs(
    conn: Connection,
    *,
    state: str | None,
    framework: str | None,
    project: str | None,
    kind: str | None,
    limit: int,
    cursor: str | None,
    columns: Sequence[Any] = (JOBS,),
) -> tuple[list[Row[Any]], str | None]:
    """A page of jobs, newest first, as rows to read (of `columns`: id and created_at among
    them, for the cursor)."""
    values: dict[str, Any] = {"state": state, "framework": framework, "project": project}
    values |= {"kind": kind, "limit": limit + 1}
    if cursor:
        values["created"], values["after_id"] = decode_cursor(cursor)
    query = _page_query(tuple(columns), tuple(k for k in _PAGE_FILTERS if values.get(k)))
    jobs = list(conn.execute(query, values).all())
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
