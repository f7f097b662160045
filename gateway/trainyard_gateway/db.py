"""Engine, sessions and migrations of the job store: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from trainyard_gateway.sqlite_writer import SqliteWriteLock

MIGRATIONS = Path(__file__).parent / "migrations"


def driver_url(url: str) -> str:
    """Hosted PostgreSQL (Railway, Heroku…) hands out postgres:// or postgresql:// URLs;
    SQLAlchemy would pick psycopg2 for those, but the gateway ships psycopg 3."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def make_engine(url: str) -> Engine:
    url = driver_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # Connections to a file are cheap: one per server thread, so none waits for one.
            pool_size=10,
            max_overflow=30,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cursor = conn.cursor()
            # WAL lets readers go on while the dispatcher or a callback writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=25, max_overflow=15)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Database:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite_writer = None
        if self.engine.dialect.name == "sqlite":
            file = self.engine.url.database
            self._sqlite_writer = SqliteWriteLock(file if file and file != ":memory:" else None)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction, committed at the end. `write=True` for one that reads, then writes
        what it read (PostgreSQL locks those rows with FOR UPDATE): on SQLite it queues for
        the single writer's place and takes it before reading, so no other writer slips in."""
        queue = self._sqlite_writer.hold() if write and self._sqlite_writer else nullcontext()
        with queue, self.sessions() as session:
            try:
                if write and self._sqlite_writer:
                    session.execute(text("BEGIN IMMEDIATE"))
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
