"""Fixtures that start real Trainyard processes on loopback ports (tests/support/processes.py
holds the classes that start them)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.processes import INTERNAL_TOKEN, Processes
from trainyard_dev.launcher import ManagedProcess

# Real servers as session fixtures, started once per run when a test asks for them:
# postgres_server, s3_server, mlflow_server.
pytest_plugins = [
    "tests.support.server_postgres",
    "tests.support.server_s3",
    "tests.support.server_mlflow",
]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture(scope="module")
def module_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    procs = Processes(tmp_path_factory.mktemp("stack"))
    yield procs
    procs.stop_all()


@pytest.fixture
def start_service(processes: Processes) -> Callable[..., tuple[ManagedProcess, str]]:
    """Start a training service: `start_service("timm", **env)` -> (process, base_url)."""
    return processes.service


@pytest.fixture
def internal_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {INTERNAL_TOKEN}"}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback calls must never go through a proxy from the environment.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
