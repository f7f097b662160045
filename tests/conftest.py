"""Fixtures that start real Trainyard processes on loopback ports."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from trainyard_shared.launcher import ManagedProcess, environment_python

REPO = Path(__file__).resolve().parents[1]
INTERNAL_TOKEN = "test-internal-token-0123456789"
sys.path.insert(0, str(REPO / "tests"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def framework_python(name: str) -> Path:
    """The interpreter of a framework's own environment (made by `make setup`)."""
    python = environment_python(REPO, name)
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make setup` first")
    return python


ServiceFactory = Callable[..., tuple[ManagedProcess, str]]


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[ServiceFactory]:
    """Start a training service: `start_service("timm", python=..., module=..., **env)`.

    Returns the process and its base URL once `/health` answers 200.
    """
    started: list[ManagedProcess] = []

    def start(
        framework: str,
        *,
        module: str | None = None,
        python: Path | str | None = None,
        port: int | None = None,
        wait: bool = True,
        **env: str,
    ) -> tuple[ManagedProcess, str]:
        port = port or free_port()
        base = f"http://127.0.0.1:{port}"
        proc = ManagedProcess(
            name=framework,
            argv=[
                str(python or framework_python(framework)),
                "-m",
                module or f"trainyard_{framework}",
            ],
            env={
                "PORT": str(port),
                "HOST": "127.0.0.1",
                "TRAINYARD_DATA_DIR": str(tmp_path / f"data-{framework}"),
                "STORAGE_URI": (tmp_path / "storage").as_uri(),
                "TRAINYARD_INTERNAL_TOKEN": INTERNAL_TOKEN,
                "PYTHONPATH": str(REPO / "tests"),
                **env,
            },
            log_path=tmp_path / f"{framework}-{port}.log",
        ).start()
        started.append(proc)
        if wait:
            proc.wait_healthy(f"{base}/health", timeout=180)
        return proc, base

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def internal_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {INTERNAL_TOKEN}"}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback calls must never go through a proxy from the environment.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


class Gateway:
    """A running gateway process and an HTTP client for it."""

    def __init__(self, proc: ManagedProcess, url: str, data_dir: Path) -> None:
        self.proc, self.url, self.data_dir = proc, url, data_dir

    def restart(self) -> None:
        self.proc.stop()
        self.proc.start()
        self.proc.wait_healthy(f"{self.url}/health", timeout=60)


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start the gateway from the development environment with fast loops for tests.

    Services default to ports where nothing listens; pass e.g. `TIMM_SERVICE_URL=…` or
    `TRAINYARD_EXTRA_SERVICES="toy=…"` to route to real ones.
    """
    started: list[ManagedProcess] = []

    def start(**env: str) -> Gateway:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        data_dir = tmp_path / "gateway-data"
        defaults = {
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "TRAINYARD_DATA_DIR": str(data_dir),
            "STORAGE_URI": (tmp_path / "storage").as_uri(),
            "TRAINYARD_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "DISPATCH_INTERVAL": "0.2",
            "SERVICE_POLL_INTERVAL": "1",
            "EXIT_GRACE_SECONDS": "1",
            "TIMM_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
            "ULTRALYTICS_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
            "HUGGINGFACE_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        }
        proc = ManagedProcess(
            name="gateway",
            argv=[sys.executable, "-m", "trainyard_gateway"],
            env={**defaults, **env},
            log_path=tmp_path / f"gateway-{port}.log",
        ).start()
        started.append(proc)
        proc.wait_healthy(f"{url}/health", timeout=60)
        return Gateway(proc, url, data_dir)

    yield start
    for proc in started:
        proc.stop()
