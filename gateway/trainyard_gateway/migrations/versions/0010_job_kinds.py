"""Job kinds: a job trains (the default) or exports a training job's model, and keeps what it
found (an export's parity report).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="train"))
        batch.add_column(sa.Column("source_job_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("result", sa.JSON, nullable=True))
        batch.create_index("ix_jobs_source_job_id", ["source_job_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_source_job_id")
        batch.drop_column("result")
        batch.drop_column("source_job_id")
        batch.drop_column("kind")
