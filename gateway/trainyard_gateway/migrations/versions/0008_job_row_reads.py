"""A job's artifacts, early stop and pretrained weights kept on its row; indexes for the
filtered listing.

Reading a job read its event log for these on every request; the ingest of its events now keeps
them on the row. Existing jobs get them from their events here.

Revision ID: 0008
Revises: 0007
"""

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from trainyard_gateway.job_queries import artifacts_from_events
from trainyard_gateway.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHUNK = 5_000


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("artifacts", sa.JSON))
        batch.add_column(sa.Column("stopped_early", sa.JSON))
        batch.add_column(sa.Column("weights", sa.JSON))
    op.drop_index("ix_jobs_project", table_name="jobs")
    op.create_index("ix_jobs_project_listing", "jobs", ["project", "created_at", "id"])
    op.create_index("ix_jobs_state_listing", "jobs", ["state", "created_at", "id"])
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String),
        sa.column("state", sa.String),
        sa.column("artifacts", sa.JSON),
        sa.column("stopped_early", sa.JSON),
        sa.column("weights", sa.JSON),
    )
    events = sa.table(
        "job_events",
        sa.column("job_id", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("type", sa.String),
        sa.column("time", UTCDateTime),
        sa.column("data", sa.JSON),
    )
    logged: dict[str, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
    rows = bind.execute(
        sa.select(events.c.job_id, events.c.time, events.c.data)
        .where(events.c.type == "artifact")
        .order_by(events.c.job_id, events.c.seq)
    )
    for job_id, time, data in rows:
        logged[job_id].append((time, data))
    updates = [
        {"job": job_id, "value": artifacts_from_events(job_id, each)}
        for job_id, each in logged.items()
    ]
    _update(jobs, "artifacts", updates)
    stopped: dict[str, Any] = {}
    statuses = bind.execute(
        sa.select(events.c.job_id, events.c.data)
        .join(jobs, jobs.c.id == events.c.job_id)
        .where(events.c.type == "status", jobs.c.state == "succeeded")
        .order_by(events.c.job_id, events.c.seq)
    )
    for job_id, data in statuses:
        if data.get("state") == "succeeded" and data.get("stopped_early"):
            stopped[job_id] = data["stopped_early"]
    _update(jobs, "stopped_early", [{"job": k, "value": v} for k, v in stopped.items()])
    loaded: dict[str, Any] = {}
    for job_id, data in bind.execute(
        sa.select(events.c.job_id, events.c.data)
        .where(events.c.type == "weights")
        .order_by(events.c.job_id, events.c.seq)
    ):
        loaded[job_id] = data  # the last one wins
    _update(jobs, "weights", [{"job": k, "value": v} for k, v in loaded.items()])


def _update(table: sa.TableClause, column: str, rows: list[dict[str, Any]]) -> None:
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("job"))
        .values({column: sa.bindparam("value", type_=sa.JSON)})
    )
    for start in range(0, len(rows), CHUNK):
        op.get_bind().execute(statement, rows[start : start + CHUNK])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_listing", table_name="jobs")
    op.drop_index("ix_jobs_project_listing", table_name="jobs")
    op.create_index("ix_jobs_project", "jobs", ["project"])
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("weights")
        batch.drop_column("stopped_early")
        batch.drop_column("artifacts")
