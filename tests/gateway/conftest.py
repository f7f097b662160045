"""An empty, migrated job store on each database the gateway supports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trainyard_gateway.db import Database, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def job_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database()
    database = Database(url)
    migrate(database.engine)
    yield database
    database.engine.dispose()
