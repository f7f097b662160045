"""How many jobs one project may have waiting: a runaway script fills its own queue, not ours."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from trainyard_gateway.db import WriteSession
from trainyard_gateway.errors import QueueFull
from trainyard_gateway.models import Job
from trainyard_wire.states import JobState


def check_queue_room(session: WriteSession, project: str, limit: int) -> None:
    """Refuse a job past the project's limit. Call in the transaction that stores the job: the
    count and the insert then happen one submission at a time per project (SQLite has one
    writer; PostgreSQL takes a lock on the project's name until the transaction ends)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_lock_key(project))))
    waiting = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.project == project, Job.state == JobState.QUEUED)
    )
    if waiting is not None and waiting >= limit:
        raise QueueFull(
            f"project {project!r} already has {waiting} queued jobs, the most it may have "
            f"waiting (MAX_QUEUED_JOBS_PER_PROJECT={limit}); wait for some to start, or cancel "
            "some",
            [
                {
                    "field": "project",
                    "message": "too many queued jobs",
                    "allowed": [f"at most {limit} queued jobs per project"],
                }
            ],
        )


def _lock_key(project: str) -> int:
    """A signed 64-bit key for the project's advisory lock."""
    return int.from_bytes(
        hashlib.sha256(f"queue:{project}".encode()).digest()[:8], "big", signed=True
    )
