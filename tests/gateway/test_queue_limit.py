"""The per-project queue limit holds when many submissions arrive at the same moment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from tests.support.job_rows import job_row
from trainyard_gateway.errors import QueueFull
from trainyard_gateway.models import Job
from trainyard_gateway.queue_limits import check_queue_room

LIMIT = 5


def test_simultaneous_submissions_never_pass_the_limit(job_store):
    def submit(n: int) -> int:
        try:
            # As the job API stores a job: the check and the insert in one write transaction.
            with job_store.write() as session:
                check_queue_room(session, "busy", LIMIT)
                session.add(job_row(f"job-{n}", project="busy", state="queued"))
            return 201
        except QueueFull as exc:
            return exc.status

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, range(40)))
    with job_store.read() as session:
        queued = session.scalar(select(func.count()).select_from(Job).where(Job.project == "busy"))
    assert queued == LIMIT
    assert sorted(answers) == [201] * LIMIT + [429] * (40 - LIMIT)
