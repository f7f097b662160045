"""Jobs and their reported events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from trainyard_gateway.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("framework", sa.String(32), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("executor", sa.String(32)),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("last_event_at", UTCDateTime),
        sa.Column("epoch", sa.Integer),
        sa.Column("total_epochs", sa.Integer),
        sa.Column("eta_seconds", sa.Float),
        sa.Column("metrics", sa.JSON),
        sa.Column("error", sa.JSON),
        sa.Column("queue_reason", sa.Text),
        sa.Column("service_url", sa.String(2048)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("callback_token_hash", sa.String(64)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("dispatch_attempts", sa.Integer, nullable=False),
    )
    op.create_index("ix_jobs_queue", "jobs", ["state", "framework", "priority", "created_at"])
    op.create_index("ix_jobs_listing", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_project", "jobs", ["project"])
    op.create_table(
        "job_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "job_id", sa.String(64), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.UniqueConstraint("job_id", "seq", name="uq_job_events_job_seq"),
    )
    op.create_index("ix_job_events_job_type_seq", "job_events", ["job_id", "type", "seq"])


def downgrade() -> None:
    op.drop_table("job_events")
    op.drop_table("jobs")
