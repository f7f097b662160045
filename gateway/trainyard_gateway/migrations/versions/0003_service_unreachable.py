"""When a running job's service stopped answering the watchdog.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from trainyard_gateway.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("service_unreachable_since", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("service_unreachable_since")
