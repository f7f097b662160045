"""Resuming: a new job that continues another from its last checkpoint.

`resume_from` on a new job names a job (its last checkpoint is taken) or a checkpoint in this
deployment's storage, by key or URI, under `checkpoints/`. It is checked here and stored as the
checkpoint's key, which is what train.py fetches; the job it came from is linked as
`resumed_from`. `POST /v1/jobs/{id}/resume` makes such a job from one that failed, was
cancelled or was lost.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select

from trainyard_gateway.db import ReadSession
from trainyard_gateway.errors import Conflict, InvalidInput, Unavailable
from trainyard_gateway.models import Job, JobEvent
from trainyard_runtime.storage import Storage, StorageError, UnsafeKeyError
from trainyard_runtime.storage.base import check_key
from trainyard_runtime.storage.layout import CHECKPOINTS, checkpoint_key, parse_checkpoint_key
from trainyard_wire.spec import JobSpec
from trainyard_wire.states import NOT_ENDED, JobState

RESUMABLE: tuple[JobState, ...] = (JobState.FAILED, JobState.CANCELLED, JobState.LOST)
_JOB_ID = re.compile(r"job-[A-Za-z0-9_-]{1,60}")


def last_checkpoint_key(session: ReadSession, job: Job) -> str | None:
    """The storage key of the job's newest `last` checkpoint, or None if it reported none."""
    return checkpoint_key_of(session, job, "last")


def checkpoint_key_of(session: ReadSession, job: Job, stem: str) -> str | None:
    """The storage key of the job's newest checkpoint `stem` (best, last), or None."""
    names = session.scalars(
        select(JobEvent.data)
        .where(JobEvent.job_id == job.id, JobEvent.type == "artifact")
        .order_by(JobEvent.seq.desc())
    )
    for data in names:
        name = str(data.get("name", ""))
        if data.get("kind", "checkpoint") == "checkpoint" and PurePosixPath(name).stem == stem:
            # train.py stores each checkpoint at this key (save_checkpoint).
            return checkpoint_key(job.project, job.id, name)
    return None


def resume_spec(session: ReadSession, source: Job) -> JobSpec:
    """The spec of a job that resumes `source`; 409 unless it ended resumable, with a checkpoint."""
    allowed = [state.value for state in RESUMABLE]
    if source.kind != "train":
        raise Conflict(
            f"job {source.id} is an {source.kind} job: only training resumes; "
            f"make a new {source.kind} job instead",
            [{"field": "kind", "message": f"job is {source.kind}", "allowed": ["train"]}],
        )
    if source.state not in allowed:
        raise Conflict(
            f"job {source.id} is {source.state}: only a {', '.join(allowed[:-1])} or "
            f"{allowed[-1]} job can be resumed",
            [{"field": "state", "message": f"job is {source.state}", "allowed": allowed}],
        )
    if last_checkpoint_key(session, source) is None:
        raise Conflict(
            f"job {source.id} saved no checkpoint before it ended, so there is nothing to "
            "resume from: submit its spec again to train from the start",
            [
                {
                    "field": "artifacts",
                    "message": "no last checkpoint",
                    "allowed": ["a job with a last checkpoint"],
                }
            ],
        )
    # A fine-tuned job resumes from its own checkpoint: its init_from is done with.
    return JobSpec.model_validate({**source.spec, "resume_from": source.id, "init_from": None})


def _refuse(storage: Storage, message: str) -> InvalidInput:
    return InvalidInput(
        f"resume_from: {message}",
        [
            {
                "field": "resume_from",
                "message": message,
                "allowed": [
                    "the id of a job with a last checkpoint (job-…)",
                    f"a checkpoint key under {CHECKPOINTS}",
                    f"a URI under {storage.uri_for(CHECKPOINTS.rstrip('/'))}/",
                ],
            }
        ],
    )


def _key_of(storage: Storage, value: str) -> str:
    """The storage key a key or URI names, refusing anything outside `checkpoints/`."""
    try:
        key = storage.key_for(value) if "://" in value else check_key(value)
    except UnsafeKeyError as exc:
        raise _refuse(storage, str(exc)) from None
    if not key.startswith(CHECKPOINTS):
        raise _refuse(
            storage, f"{value!r} is not a checkpoint: checkpoints live under {CHECKPOINTS}"
        )
    return key


def _job_of_key(session: ReadSession, key: str) -> Job | None:
    """The job whose checkpoint folder holds `key` (checkpoints/projects/P/jobs/ID/FILE)."""
    place = parse_checkpoint_key(key)
    return session.get(Job, place.job_id) if place else None


def _source_job(session: ReadSession, storage: Storage, job_id: str) -> tuple[Job, str]:
    source = session.get(Job, job_id)
    if source is None:
        raise _refuse(storage, f"no job {job_id!r}")
    if source.state in NOT_ENDED:
        raise _refuse(storage, f"job {job_id} is {source.state}: its training has not ended")
    key = last_checkpoint_key(session, source)
    if key is None:
        raise _refuse(storage, f"job {job_id} saved no last checkpoint")
    return source, key


def _check_exists(storage: Storage, key: str) -> None:
    try:
        found = storage.exists(key)
    except ValueError as exc:  # a link inside the storage folder that leads out of it
        raise _refuse(storage, str(exc)) from None
    except (StorageError, OSError) as exc:
        raise Unavailable(
            f"cannot check the checkpoint {key} in storage: {exc}; try again"
        ) from exc
    if not found:
        raise _refuse(storage, f"there is no checkpoint at {key}")


def resolve_resume_from(
    session: ReadSession, storage: Storage, spec: JobSpec
) -> tuple[JobSpec, Job | None]:
    """The spec with `resume_from` as a checked storage key, and the job it continues (if known).

    422 for a value that names no checkpoint in this storage, a key outside `checkpoints/`, or a
    checkpoint of another framework.
    """
    value = spec.resume_from
    if value is None:
        return spec, None
    if _JOB_ID.fullmatch(value):
        source: Job | None
        source, key = _source_job(session, storage, value)
    else:
        key = _key_of(storage, value)
        source = _job_of_key(session, key)
    if source is not None and source.framework != spec.framework:
        message = f"{key} is a {source.framework} checkpoint; this job is {spec.framework}"
        error: dict[str, Any] = {
            "field": "framework",
            "message": message,
            "allowed": [source.framework],
        }
        raise InvalidInput(f"resume_from: {message}", [error])
    _check_exists(storage, key)
    return spec.model_copy(update={"resume_from": key}), source
