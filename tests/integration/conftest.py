"""Every platform test here runs against both job stores: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.processes import Processes

DATABASES = ["sqlite", "postgresql"]


def _database_url(request: pytest.FixtureRequest) -> Callable[[], str] | None:
    if request.param == "sqlite":
        return None
    server = request.getfixturevalue("postgres_server")
    return server.new_database


@pytest.fixture(params=DATABASES)
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, _database_url(request))
    yield procs
    procs.stop_all()


@pytest.fixture(scope="module", params=DATABASES)
def module_processes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    procs = Processes(tmp_path_factory.mktemp(f"stack-{request.param}"), _database_url(request))
    yield procs
    procs.stop_all()
