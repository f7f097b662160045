"""Engine, sessions and migrations of the job store: SQLite by default, PostgreSQL in production.

Reads and writes open different session types, so a function's signature says which it needs:
a `ReadSession` refuses to flush changes, and only a `WriteSession` queues for SQLite's single
writer (`sqlite_writer.py`). A `WriteSession` is also a `ReadSession`: it can be handed to any
function that only reads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
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
            # One kept connection per server thread (anyio's default limit is 40), so none waits
            # for one and none is opened per request: opening one costs as much as a read
            # (its pragmas, a cold page cache).
            pool_size=40,
            max_overflow=20,
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


class ReadSession(Session):
    """A transaction that only reads; it refuses to write anything."""


class WriteSession(ReadSession):
    """A transaction that reads, then writes what it read (rows locked, or SQLite's writer
    place held, from its start)."""


@event.listens_for(ReadSession, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    if not isinstance(session, WriteSession) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a read session cannot write: open the transaction with db.write()")


class Database:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._readers = sessionmaker(self.engine, class_=ReadSession, expire_on_commit=False)
        self._writers = sessionmaker(self.engine, class_=WriteSession, expire_on_commit=False)
        self._sqlite_writer = None
        if self.engine.dialect.name == "sqlite":
            file = self.engine.url.database
            self._sqlite_writer = SqliteWriteLock(file if file and file != ":memory:" else None)

    @contextmanager
    def read(self) -> Iterator[ReadSession]:
        """A transaction that only reads; never waits for a writer."""
        with self._readers() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def rows(self) -> Iterator[Connection]:
        """A transaction that only reads, on a plain connection: for the hottest reads, which
        take rows without the ORM (opening and committing a session costs as much as a read of
        one job). Rolled back at the end."""
        with self.engine.connect() as conn:
            yield conn

    def session_on(self, conn: Connection) -> ReadSession:
        """A read session inside `conn`'s transaction (for what needs the ORM in a `rows()`
        read)."""
        return self._readers(bind=conn)

    @functools.cached_property
    def reads_block_briefly(self) -> bool:
        """Whether a short read may run on the server's event loop: SQLite reads a local file
        in well under a millisecond and, in WAL mode, never waits for a writer, so handing the
        read to a worker thread costs more than the read. Where the file could not be put in
        WAL mode (a file system without shared memory) a reader waits for writers, and
        PostgreSQL answers over the network: their reads go to worker threads."""
        if self.engine.dialect.name != "sqlite":
            return False
        with self.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        return str(mode).lower() == "wal"

    @contextmanager
    def write(self) -> Iterator[WriteSession]:
        """A transaction that reads, then writes what it read, committed at the end.

        PostgreSQL locks the rows it reads with FOR UPDATE; on SQLite it queues for the single
        writer's place and takes it before reading, so no other writer slips in between.
        """
        queue = self._sqlite_writer.hold() if self._sqlite_writer else nullcontext()
        with queue, self._writers() as session:
            try:
                if self._sqlite_writer:
                    session.execute(text("BEGIN IMMEDIATE"))
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
