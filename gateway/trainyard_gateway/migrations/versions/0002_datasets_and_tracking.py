"""Registered datasets; a job's dataset id and MLflow run.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from trainyard_gateway.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200)),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("uri", sa.String(2048), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("mlflow", sa.JSON))
        batch.add_column(sa.Column("dataset_id", sa.String(64)))
        batch.create_index("ix_jobs_dataset_id", ["dataset_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_dataset_id")
        batch.drop_column("dataset_id")
        batch.drop_column("mlflow")
    op.drop_table("datasets")
