"""Trainyard components as real processes on loopback ports, and what starting them needs."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from trainyard_dev.launcher import ManagedProcess, environment_python

REPO = Path(__file__).resolve().parents[2]
# Where the toy framework package lives: put on a service's PYTHONPATH to run it.
TESTS = REPO / "tests"
INTERNAL_TOKEN = "test-internal-token-0123456789"


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


class Processes:
    """Starts Trainyard components as real processes under one folder; stops them all at the end.

    `database_url` (a callable giving a fresh URL) puts the gateways it starts on that database
    instead of their embedded SQLite file.
    """

    def __init__(self, root: Path, database_url: Callable[[], str] | None = None) -> None:
        self.root = root
        self.started: list[ManagedProcess] = []
        self.database_url = database_url

    def service(
        self,
        framework: str,
        *,
        module: str | None = None,
        python: Path | str | None = None,
        port: int | None = None,
        wait: bool = True,
        **env: str,
    ) -> tuple[ManagedProcess, str]:
        """Start a training service; returns it and its base URL once `/health` answers."""
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
                "TRAINYARD_DATA_DIR": str(self.root / f"data-{framework}"),
                "STORAGE_URI": (self.root / "storage").as_uri(),
                "TRAINYARD_INTERNAL_TOKEN": INTERNAL_TOKEN,
                "PYTHONPATH": str(TESTS),
                **env,
            },
            log_path=self.root / f"{framework}-{port}.log",
        ).start()
        self.started.append(proc)
        if wait:
            proc.wait_healthy(f"{base}/health", timeout=180)
        return proc, base

    def toy_service(self, **env: str) -> tuple[ManagedProcess, str]:
        return self.service(
            "toy",
            python=sys.executable,
            module="toy_framework",
            **{"HEARTBEAT_INTERVAL": "0.5", **env},
        )

    def gateway(self, *, workers: int | None = None, **env: str) -> Gateway:
        """Start the gateway with fast loops; services default to ports where nothing listens.

        `workers`: the production server (`trainyard_gateway.serve`, gunicorn) with that many
        worker processes instead of the one-process development server."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        data_dir = self.root / "gateway-data"
        database = {"DATABASE_URL": self.database_url()} if self.database_url else {}
        # Open API unless a test gives keys: most tests are not about authentication.
        anonymous = {} if env.get("TRAINYARD_API_KEYS") else {"TRAINYARD_ALLOW_ANONYMOUS": "1"}
        defaults = {
            **anonymous,
            **database,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "TRAINYARD_DATA_DIR": str(data_dir),
            "STORAGE_URI": (self.root / "storage").as_uri(),
            "TRAINYARD_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "DISPATCH_INTERVAL": "0.2",
            "SERVICE_POLL_INTERVAL": "1",
            "EXIT_GRACE_SECONDS": "1",
            "TIMM_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
            "ULTRALYTICS_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
            "HUGGINGFACE_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        }
        module = "trainyard_gateway"
        if workers is not None:
            module, defaults["GATEWAY_WORKERS"] = "trainyard_gateway.serve", str(workers)
        proc = ManagedProcess(
            name="gateway",
            argv=[sys.executable, "-m", module],
            env={**defaults, **env},
            log_path=self.root / f"gateway-{port}.log",
        ).start()
        self.started.append(proc)
        proc.wait_healthy(f"{url}/health", timeout=60)
        return Gateway(proc, url, data_dir, proc.env.get("DATABASE_URL"))

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()


class Gateway:
    """A running gateway process."""

    def __init__(
        self, proc: ManagedProcess, url: str, data_dir: Path, database_url: str | None
    ) -> None:
        self.proc, self.url, self.data_dir = proc, url, data_dir
        # None: the embedded SQLite file under data_dir.
        self.database_url = database_url or f"sqlite:///{data_dir / 'gateway.db'}"

    def restart(self) -> None:
        self.proc.stop()
        self.proc.start()
        self.proc.wait_healthy(f"{self.url}/health", timeout=60)


def process_alive(pid: int) -> bool:
    """True while the pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, it was read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
