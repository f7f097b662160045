"""A version number on each job row, counted up by the database on every change to the row;
an index for the listing filtered by kind.

The API keeps encoded job views by (id, row_version): reading four small columns tells whether a
kept answer is still the row's. A trigger counts, so no write path (ORM, Core UPDATE, an
operator's SQL) can change a row without changing its version.

A later migration that rebuilds the jobs table on SQLite (batch_alter_table with recreate)
drops the trigger with the old table: it must create it again (`create_trigger`).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SQLITE_TRIGGER = """
CREATE TRIGGER jobs_row_version AFTER UPDATE ON jobs FOR EACH ROW
WHEN NEW.row_version = OLD.row_version
BEGIN
    UPDATE jobs SET row_version = OLD.row_version + 1 WHERE id = NEW.id;
END
"""
POSTGRES_FUNCTION = """
CREATE FUNCTION jobs_row_version() RETURNS trigger AS $$
BEGIN
    NEW.row_version := OLD.row_version + 1;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
POSTGRES_TRIGGER = """
CREATE TRIGGER jobs_row_version BEFORE UPDATE ON jobs
FOR EACH ROW EXECUTE FUNCTION jobs_row_version()
"""


def create_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def drop_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS jobs_row_version ON jobs")
        op.execute("DROP FUNCTION IF EXISTS jobs_row_version()")
    else:
        op.execute("DROP TRIGGER IF EXISTS jobs_row_version")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("row_version", sa.BigInteger, nullable=False, server_default="0")
        )
    op.create_index("ix_jobs_kind_listing", "jobs", ["kind", "created_at", "id"])
    create_trigger()


def downgrade() -> None:
    drop_trigger()
    op.drop_index("ix_jobs_kind_listing", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("row_version")
