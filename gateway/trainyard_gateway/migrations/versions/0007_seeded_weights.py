"""Seeded pretrained weights: one row per framework and model (POST /v1/weights).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from trainyard_gateway.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seeded_weights",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("framework", sa.String(32), nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("uri", sa.String(2048), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("framework", "model", name="uq_seeded_weights_model"),
    )


def downgrade() -> None:
    op.drop_table("seeded_weights")
