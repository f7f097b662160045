"""A fine-tuned job's lineage (the init_from it was asked for and the checkpoint it resolved
to) and, for a job with register_as, the registry version it became; both kept on its row.

Revision ID: 0009
Revises: 0008
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("init_from", sa.JSON, nullable=True))
        batch.add_column(sa.Column("registered", sa.JSON, nullable=True))
    _backfill_registered()


def _backfill_registered() -> None:
    """Jobs that registered a version before the column existed: from their final status."""
    bind = op.get_bind()
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String),
        sa.column("state", sa.String),
        sa.column("registered", sa.JSON),
    )
    events = sa.table(
        "job_events",
        sa.column("job_id", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("type", sa.String),
        sa.column("data", sa.JSON),
    )
    found: dict[str, Any] = {}
    rows = bind.execute(
        sa.select(events.c.job_id, events.c.data)
        .join(jobs, jobs.c.id == events.c.job_id)
        .where(events.c.type == "status", jobs.c.state == "succeeded")
        .order_by(events.c.job_id, events.c.seq)
    )
    for job_id, data in rows:
        if data.get("state") == "succeeded" and data.get("registered"):
            found[job_id] = data["registered"]
    statement = (
        sa.update(jobs)
        .where(jobs.c.id == sa.bindparam("job"))
        .values(registered=sa.bindparam("value", type_=sa.JSON))
    )
    if found:
        bind.execute(statement, [{"job": k, "value": v} for k, v in found.items()])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("registered")
        batch.drop_column("init_from")
