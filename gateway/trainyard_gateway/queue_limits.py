"""How many jobs one project may have waiting: a runaway script fills its own queue, not ours."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trainyard_gateway.models import Job
from trainyard_shared.http_api import ApiError
from trainyard_shared.states import JobState


def check_queue_room(session: Session, project: str, limit: int) -> None:
    waiting = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.project == project, Job.state == JobState.QUEUED)
    )
    if waiting is not None and waiting >= limit:
        raise ApiError(
            429,
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
