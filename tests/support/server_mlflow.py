"""A real MLflow tracking server for tests (`mlflow server` from the dev environment).

SQLite backend and a local artifact folder served through the server's artifact proxy, as a
deployment would run it. Import the session fixture `mlflow_server` into a test module or a
conftest, or use the context manager `running_mlflow(root)`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port
from trainyard_dev.launcher import ManagedProcess

START_TIMEOUT = 120.0  # about 20 s on a 2-core machine; the first start also creates tables


@dataclass(frozen=True)
class MlflowServer:
    url: str
    start_seconds: float
    artifacts_dir: Path


def _stop_group(proc: ManagedProcess, timeout: float = 15.0) -> None:
    """Stop the server and everything it started (uvicorn workers live in its process group)."""
    proc.stop(signal.SIGTERM, timeout=timeout)
    assert proc.proc is not None
    group = proc.proc.pid
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            os.killpg(group, 0)  # raises once no member of the group is left
            time.sleep(0.1)
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def running_mlflow(root: Path) -> Iterator[MlflowServer]:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    argv = [
        str(mlflow),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    # The job runner starts a handful of extra consumer processes we do not need.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = ManagedProcess("mlflow", argv, env, root / "mlflow.log", cwd=root)
    started = time.monotonic()
    proc.start()
    try:
        proc.wait_healthy(f"{url}/health", timeout=START_TIMEOUT)
        yield MlflowServer(url, time.monotonic() - started, root / "artifacts")
    finally:
        _stop_group(proc)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One server for the whole run (registered once through tests/conftest.py)."""
    with running_mlflow(tmp_path_factory.mktemp("mlflow")) as server:
        yield server
