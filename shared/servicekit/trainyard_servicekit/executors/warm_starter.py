"""The service's side of the warm runner: start it, ask it for runs, replace it when it dies.

The runner (warm_runner.py) is a child of the service in its own session, holding one end of a
socket pair; a reader thread here takes its replies. A run it forks is not the service's child:
its pid and start time come back in the reply, its returncode when the runner reaps it. A
runner that ends unasked is logged, counted in the service's health, and started again (after
a backoff where it never got ready); until it is ready again `start` answers None and the
executor starts runs cold. Runs it had started go on; the executor watches them as it watches
runs adopted after a restart.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainyard_servicekit.executors.cpu_threads import thread_defaults
from trainyard_wire.runs import WarmRunnerHealth

log = logging.getLogger(__name__)

RUNNER_MODULE = "trainyard_servicekit.executors.warm_runner"
START_TIMEOUT = 30.0  # seconds for the runner to answer a start: it only forks
MAX_BACKOFF = 60.0
MAX_LOG_BYTES = 10 * 1024**2  # the runner's own log (its runs write theirs)
# Read once when a process (or a library it imports) starts, so a forked run would keep the
# runner's value: a run whose environment sets another is started cold.
STARTUP_VARIABLES = (
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "PYTHONHASHSEED",
    "PYTHONOPTIMIZE",
    "PYTHONWARNINGS",
    "PYTHONSAFEPATH",
    # The Hugging Face hub (timm and transformers import it) reads its cache and mode on import.
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "XDG_CACHE_HOME",
)


def keep_log_bounded(path: Path, max_bytes: int = MAX_LOG_BYTES) -> None:
    """Each runner appends to the log its predecessors wrote: past `max_bytes` the log moves to
    `<name>.1` (replacing the one before), so a service that replaces runners for months keeps
    at most twice that."""
    try:
        if path.stat().st_size > max_bytes:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass


def describe_returncode(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class WarmChild:
    """A run the warm runner forked: like a Popen to wait on, though not the service's child."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.pid: int | None = None
        self.start_time: int | None = None
        self.returncode: int | None = None
        self.lost = False  # the runner ended first: how the run ends is for the executor to find
        self._started = threading.Event()
        self._done = threading.Event()

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Its returncode; None where the runner ended before it did."""
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"warm run {self.run_id}", timeout or 0.0)
        return self.returncode

    def _lose(self) -> None:
        self.lost = True
        self._started.set()
        self._done.set()


class WarmStarter:
    def __init__(
        self, python: str, imports: tuple[str, ...], log_path: Path, *, enabled: bool = True
    ) -> None:
        self.python = python
        self.imports = imports
        self.log_path = log_path
        self.enabled = enabled
        self.restarts = 0
        self.last_failure: str | None = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # one request on the socket at a time, whole
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None  # set once the runner is ready
        self._runner_env: dict[str, str] = {}
        self._children: dict[str, WarmChild] = {}
        self._closed = False

    # -- the runner's life -------------------------------------------------------------------

    def open(self) -> None:
        if self.enabled:
            self._launch()

    def close(self) -> None:
        """Start nothing more; the runner exits once the runs it forked have ended."""
        with self._lock:
            self._closed = True
            control = self._control
            self._control = None
        if control is not None:
            control.shutdown(socket.SHUT_RDWR)

    def _launch(self) -> None:
        ours, theirs = socket.socketpair()
        # The thread policy a cold run gets: libgomp reads it once, when torch is imported.
        env = {**os.environ, **thread_defaults(os.environ), "PYTHONUNBUFFERED": "1"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        keep_log_bounded(self.log_path)
        with self.log_path.open("ab") as output:
            proc = subprocess.Popen(
                [self.python, "-m", RUNNER_MODULE, str(theirs.fileno()), *self.imports],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C at the service's terminal is not for it
            )
        theirs.close()
        with self._lock:
            self._proc = proc
        threading.Thread(target=self._read, args=(proc, ours, env), daemon=True).start()

    def _read(
        self, proc: subprocess.Popen[bytes], control: socket.socket, env: dict[str, str]
    ) -> None:
        """Take the runner's replies until it ends; then replace it (unless closed)."""
        ready = False
        with control.makefile("rb") as replies:
            for line in replies:
                message: dict[str, Any] = json.loads(line)
                if message.get("ready"):
                    ready = True
                    self._on_ready(message, control, env)
                elif "pid" in message:
                    with self._lock:
                        child = self._children.get(message["run_id"])
                    if child is not None:
                        child.pid, child.start_time = message["pid"], message["start_time"]
                        child._started.set()
                elif "returncode" in message:
                    with self._lock:
                        child = self._children.pop(message["run_id"], None)
                    if child is not None:
                        child.returncode = message["returncode"]
                        child._done.set()
        with self._lock:
            if self._control is control:
                self._control = None
            orphans, self._children = list(self._children.values()), {}
            closed = self._closed
        for child in orphans:
            child._lose()
        control.close()
        if closed:
            proc.wait()  # after its last run: reaped, so no zombie stays
            return
        code = proc.wait()
        with self._lock:
            self.restarts += 1
            self.last_failure = f"warm runner {proc.pid} ended with {describe_returncode(code)}"
            backoff = 0.0 if ready else min(MAX_BACKOFF, 2.0 ** min(self.restarts, 6))
        log.warning(
            "%s%s; runs start cold until its replacement is ready (in %.0f s)",
            self.last_failure,
            "" if ready else " before it was ready",
            backoff,
        )
        time.sleep(backoff)
        with self._lock:
            if self._closed:
                return
        self._launch()

    def _on_ready(
        self, message: dict[str, Any], control: socket.socket, env: dict[str, str]
    ) -> None:
        if message.get("python_threads", 1) > 1:
            log.warning(
                "warm runner has %s Python threads after importing %s: a fork copies only one",
                message["python_threads"],
                ", ".join(self.imports),
            )
        with self._lock:
            if self._closed:
                control.shutdown(socket.SHUT_RDWR)
                return
            self._control, self._runner_env = control, env
        log.info(
            "warm runner %s ready: %s imported, %s threads",
            message.get("pid"),
            ", ".join(self.imports),
            message.get("threads"),
        )

    def kill(self) -> None:
        """End the runner at once (runs it forked go on)."""
        with self._lock:
            proc = self._proc
        if proc is not None:
            proc.kill()

    # -- runs ----------------------------------------------------------------------------------

    def can_start(self, env: Mapping[str, str]) -> bool:
        """Ready, and the run's environment agrees with the runner's where only a fresh
        process would see the difference."""
        with self._lock:
            if self._control is None:
                return False
            runner_env = self._runner_env
        return all(env.get(name) == runner_env.get(name) for name in STARTUP_VARIABLES)

    def start(
        self,
        run_id: str,
        module: str,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        status_path: Path,
    ) -> WarmChild | None:
        """Fork a run of `module`; None where the runner cannot (start it cold then)."""
        if not self.can_start(env):
            return None
        child = WarmChild(run_id)
        with self._lock:
            control = self._control
            if control is None:
                return None
            self._children[run_id] = child
        request = {
            "run_id": run_id,
            "module": module,
            "env": dict(env),
            "cwd": str(cwd),
            "log_path": str(log_path),
            "status_path": str(status_path),
        }
        try:
            with self._send_lock:
                control.sendall(json.dumps(request).encode() + b"\n")
        except OSError:
            with self._lock:
                self._children.pop(run_id, None)
            return None
        if not child._started.wait(START_TIMEOUT):
            log.warning("warm runner did not answer a start in %.0f s; replacing it", START_TIMEOUT)
            self.kill()
            child._started.wait()
        return child if child.pid is not None else None

    def health(self) -> WarmRunnerHealth:
        with self._lock:
            ready = self._control is not None
            pid = self._proc.pid if self._proc is not None and ready else None
            return WarmRunnerHealth(
                enabled=self.enabled,
                ready=ready,
                pid=pid,
                imports=list(self.imports),
                restarts=self.restarts,
                last_failure=self.last_failure,
            )
