"""Tier 1: each run is `python -m <train module>` in its own process group on this machine.

Output goes to a per-run log file. A waiter thread reaps the process (no zombies) and records
its exit code or signal. Stop sends SIGTERM to the whole group, then SIGKILL after a grace
period; when the leader ends, anything left in its group is killed too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from trainyard_shared.executors.base import Executor, LaunchSpec, RunInfo, RunNotFound, RunStatus
from trainyard_shared.executors.logfile import tail_lines

FOLLOW_POLL_SECONDS = 0.2


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class SubprocessExecutor(Executor):
    name = "subprocess"

    def __init__(self, runs_dir: Path, python: str = sys.executable) -> None:
        self.runs_dir = runs_dir
        self.python = python
        self._runs: dict[str, RunInfo] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def start(self, launch: LaunchSpec) -> RunInfo:
        run_dir = self.run_dir(launch.run_id)
        (run_dir / "work").mkdir(parents=True, exist_ok=True)
        spec_path = run_dir / "spec.json"
        spec_path.write_text(launch.spec_json)
        env = {
            **os.environ,
            **launch.env,
            "JOB_SPEC_PATH": str(spec_path),
            "WORK_DIR": str(run_dir / "work"),
            "PYTHONUNBUFFERED": "1",
        }
        with (run_dir / "output.log").open("ab") as log:
            proc = subprocess.Popen(
                [self.python, "-m", launch.module],
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop reaches its children
            )
        info = RunInfo(
            run_id=launch.run_id,
            status=RunStatus.RUNNING,
            executor=self.name,
            started_at=datetime.now(UTC),
            pid=proc.pid,
        )
        with self._lock:
            self._runs[launch.run_id] = info
            self._procs[launch.run_id] = proc
        threading.Thread(target=self._reap, args=(launch.run_id, proc), daemon=True).start()
        return info

    def _reap(self, run_id: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        _kill_group(proc.pid, signal.SIGKILL)  # leftovers of the run (workers, children)
        with self._lock:
            info = self._runs[run_id]
            info.ended_at = datetime.now(UTC)
            if code < 0:
                info.signal = -code
                info.exit_code = 128 + info.signal
            else:
                info.exit_code = code
            if info.stop_requested:
                info.status = RunStatus.STOPPED
            elif code == 0:
                info.status = RunStatus.SUCCEEDED
            else:
                info.status = RunStatus.FAILED
                info.reason = (
                    f"killed by signal {signal.Signals(info.signal).name}"
                    if info.signal
                    else f"exited with code {code}"
                )
            self._procs.pop(run_id, None)

    def status(self, run_id: str) -> RunInfo:
        with self._lock:
            try:
                return self._runs[run_id]
            except KeyError:
                raise RunNotFound(run_id) from None

    def stop(self, run_id: str, grace_seconds: float = 10.0) -> RunInfo:
        with self._lock:
            info = self._runs.get(run_id)
            if info is None:
                raise RunNotFound(run_id)
            proc = self._procs.get(run_id)
            if proc is None or info.stop_requested:
                return info
            info.stop_requested = True
        _kill_group(proc.pid, signal.SIGTERM)
        threading.Thread(target=self._escalate, args=(proc, grace_seconds), daemon=True).start()
        return info

    @staticmethod
    def _escalate(proc: subprocess.Popen[bytes], grace_seconds: float) -> None:
        try:
            proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)

    def logs(self, run_id: str, tail: int | None = None) -> list[str]:
        self.status(run_id)
        return tail_lines(self.run_dir(run_id) / "output.log", tail)

    def follow_logs(self, run_id: str, tail: int | None = None) -> Iterator[str]:
        yield from self.logs(run_id, tail)
        path = self.run_dir(run_id) / "output.log"
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            pending = b""
            while True:
                finished = self.status(run_id).finished  # read before the bytes: none missed
                chunk = log.read()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace").split("\r")[-1]
                if finished and not chunk:
                    if pending:
                        yield pending.decode("utf-8", "replace")
                    return
                if not chunk:
                    time.sleep(FOLLOW_POLL_SECONDS)

    def list(self) -> list[RunInfo]:
        with self._lock:
            return list(self._runs.values())
