"""Job rows written straight into a job store, for tests of the gateway's database code."""

from __future__ import annotations

from trainyard_gateway.models import Job, utcnow


def job_row(job_id: str, *, project: str = "p", state: str = "running") -> Job:
    now = utcnow()
    return Job(
        id=job_id,
        framework="toy",
        task="classification",
        model="counter",
        project=project,
        spec={},
        state=state,
        created_at=now,
        updated_at=now,
    )
