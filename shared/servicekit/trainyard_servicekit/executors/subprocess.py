"""Tier 1: each run is `python -m <train module>` in its own process group on this machine.

Output goes to a per-run log file. A waiter thread reaps the process (no zombies) and records
its exit code or signal, and why it failed (see trainyard_runtime.failure). Stop sends SIGTERM
to the whole group, then SIGKILL after a grace period; when the leader ends, anything left in
its group is killed too.

Every run is also kept in a registry on disk. A restarted service loads it: a run whose process
still runs is adopted again (no longer our child: its liveness is polled), one whose process is
gone without a recorded exit ends failed, saying so. Such a run's exit code comes from the file
train.py leaves it in (the run environment's `exit_code_file`); one that died without writing
it stays unknown.

With a warm starter (warm_starter.py) a run is forked from a process that has already imported
torch and the framework, instead of a fresh `python -m`: the same program, seconds sooner. Such
a run is not the service's child; the warm runner reaps it and reports its returncode (and
leaves it in the run's `exit_status` file for a restarted service). Without a ready runner, a
run starts cold.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trainyard_runtime.failure import FailureReason, OomKillCounter, process_failure
from trainyard_servicekit.executors.base import (
    Executor,
    LaunchSpec,
    RunInfo,
    RunNotFound,
    RunStatus,
)
from trainyard_servicekit.executors.cpu_threads import thread_defaults
from trainyard_servicekit.executors.device_pool import DevicePool
from trainyard_servicekit.executors.launch_command import local_command, uses_launcher
from trainyard_servicekit.executors.logfile import tail_lines, tail_start
from trainyard_servicekit.executors.process_identity import ProcessIdentity
from trainyard_servicekit.executors.run_registry import Retention, RunRecord, RunRegistry
from trainyard_servicekit.executors.warm_runner import NOT_STARTED_FILE
from trainyard_servicekit.executors.warm_starter import WarmChild, WarmStarter
from trainyard_wire.spec import processes_per_node

FOLLOW_POLL_SECONDS = 0.2
FAILURE_TAIL_LINES = 50  # output lines searched for a cause (a CUDA out-of-memory error)
EXIT_CODE_FILE = "exit_code"  # in the run's folder, written by train.py as it exits
EXIT_STATUS_FILE = "exit_status"  # in the run's folder, written by the warm runner that reaped it
STATUS_FILE_WAIT = 2.0  # seconds a warm run's ended process is given for its exit_status file
DIED_WHILE_DOWN = "process died while the service was down"
ENDED_AFTER_RESTART = "ended without leaving its exit code, after the service restarted"


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class _Run:
    record: RunRecord
    # None: adopted after a restart (or after its warm runner ended), or ended
    proc: subprocess.Popen[bytes] | WarmChild | None = None
    oom_kills_at_start: int | None = None
    # A warm run's way to start cold instead, where its forked copy never ran.
    start_cold: Callable[[], subprocess.Popen[bytes]] | None = None

    @property
    def info(self) -> RunInfo:
        return self.record.info

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.record.process is not None and self.record.process.alive()


class SubprocessExecutor(Executor):
    name = "subprocess"
    runs_on_this_machine = True

    def __init__(
        self,
        runs_dir: Path,
        python: str = sys.executable,
        *,
        registry: RunRegistry | None = None,
        retention: Retention | None = None,
        oom_counter: OomKillCounter | None = None,
        liveness_poll: float = 0.5,
        gpu_pool: DevicePool | None = None,
        warm: WarmStarter | None = None,
    ) -> None:
        self.runs_dir = runs_dir
        self.python = python
        self.registry = registry or RunRegistry(runs_dir.parent / "registry")
        self.retention = retention or Retention()
        self.oom_counter = oom_counter or OomKillCounter.of_this_process()
        self.liveness_poll = liveness_poll
        self.gpu_pool = gpu_pool
        self.warm = warm
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._restore()

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def open(self) -> None:
        if self.warm is not None:
            self.warm.open()

    def close(self) -> None:
        if self.warm is not None:
            self.warm.close()

    # -- starting, and finding runs again after a restart ------------------------------------

    def start(self, launch: LaunchSpec) -> RunInfo:
        run_dir = self.run_dir(launch.run_id)
        (run_dir / "work").mkdir(parents=True, exist_ok=True)
        log_path = run_dir / "output.log"
        exit_code_file = run_dir / EXIT_CODE_FILE
        exit_code_file.unlink(missing_ok=True)
        status_file = run_dir / EXIT_STATUS_FILE
        status_file.unlink(missing_ok=True)
        # The service's own environment (storage credentials, caches, PATH), then the run's.
        run_env = launch.environment.placed(run_dir / "work", exit_code_file)
        env = {**os.environ, **thread_defaults(os.environ), **run_env.to_env()}
        devices = self._devices(launch)
        if devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        oom_kills = self.oom_counter.read()
        log_path.touch()
        (run_dir / NOT_STARTED_FILE).unlink(missing_ok=True)

        def start_cold() -> subprocess.Popen[bytes]:
            with log_path.open("ab") as log:
                return subprocess.Popen(
                    local_command(self.python, launch),
                    cwd=run_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stop reaches its children
                )

        handle: subprocess.Popen[bytes] | WarmChild | None = None
        # A distributed run starts the group launcher (torchrun's agent), never a warm fork.
        if self.warm is not None and not uses_launcher(launch):
            handle = self.warm.start(
                launch.run_id, launch.module, env, run_dir, log_path, status_file
            )
        if handle is None:
            handle = start_cold()
        assert handle.pid is not None
        warm = isinstance(handle, WarmChild)
        info = RunInfo(
            run_id=launch.run_id,
            status=RunStatus.RUNNING,
            executor=self.name,
            started_at=datetime.now(UTC),
            pid=handle.pid,
            processes=processes_per_node(launch.spec),
            attempt=launch.attempt,
            devices=devices,
            warm_start=warm,
        )
        if isinstance(handle, WarmChild):
            identity = (
                ProcessIdentity(handle.pid, handle.start_time)
                if handle.start_time is not None
                else None
            )
        else:
            identity = ProcessIdentity.of(handle.pid)
        record = RunRecord(info, identity, handle.pid, log_path)
        run = _Run(record, handle, oom_kills, start_cold if warm else None)
        with self._lock:
            self._runs[launch.run_id] = run
            self.registry.save(record)
        threading.Thread(target=self._reap, args=(run,), daemon=True).start()
        return info

    def _devices(self, launch: LaunchSpec) -> list[str] | None:
        """The run's GPUs from the pool (DevicesBusy when too few are free); None: no pool or
        no GPUs asked for."""
        gpus = launch.spec.resources.gpu
        if self.gpu_pool is None or not gpus:
            return None
        return self.gpu_pool.take(launch.run_id, gpus)

    def _restore(self) -> None:
        """Load the registry: adopt runs still running, end those that died meanwhile."""
        for record in self.registry.load():
            run = _Run(record)
            self._runs[record.info.run_id] = run
            if record.info.finished:
                continue
            if run.alive():
                if self.gpu_pool is not None and record.info.devices:
                    self.gpu_pool.hold(record.info.run_id, record.info.devices)
                threading.Thread(target=self._watch_adopted, args=(run,), daemon=True).start()
            else:
                self._await_status_file(run)
                self._end_unobserved(run, DIED_WHILE_DOWN)
        self._prune()

    # -- ending ------------------------------------------------------------------------------

    def _reap(self, run: _Run) -> None:
        assert run.proc is not None
        code = run.proc.wait()
        if code is None:  # its warm runner ended first: watch it as an adopted run
            with self._lock:
                run.proc = None
            self._watch_adopted(run)
            return
        _kill_group(run.record.pgid, signal.SIGKILL)  # leftovers of the run (workers, children)
        fired = self._oom_killer_fired(run)
        with self._lock:
            run.proc = None
            if code < 0:
                self._conclude(run, 128 - code, -code, oom_killer_fired=fired)
            else:
                self._conclude(run, code, None)

    def _oom_killer_fired(self, run: _Run) -> bool:
        before, after = run.oom_kills_at_start, self.oom_counter.read()
        return before is not None and after is not None and after > before

    def _watch_adopted(self, run: _Run) -> None:
        """Poll a run that is not our child until its process ends."""
        while run.alive():
            time.sleep(self.liveness_poll)
        _kill_group(run.record.pgid, signal.SIGKILL)
        if self._restarted_cold(run):
            return
        self._await_status_file(run)
        with self._lock:
            self._end_unobserved(run, ENDED_AFTER_RESTART)

    def _restarted_cold(self, run: _Run) -> bool:
        """A warm run whose runner died before confirming it: its copy never ran (it left
        NOT_STARTED_FILE and exited), so it starts cold now, as if it had never been forked."""
        if run.start_cold is None:
            return False
        if not (self.run_dir(run.info.run_id) / NOT_STARTED_FILE).exists():
            return False
        with self._lock:
            if run.info.stop_requested:
                return False  # stopped before it ran: it ends stopped
            proc = run.start_cold()
            run.proc, run.start_cold = proc, None
            run.info.pid, run.info.warm_start = proc.pid, False
            identity = ProcessIdentity.of(proc.pid)
            run.record = RunRecord(run.info, identity, proc.pid, run.record.log_path)
            self.registry.save(run.record)
        self._reap(run)
        return True

    def _await_status_file(self, run: _Run) -> None:
        """A warm run's runner, where it still runs, reaps it and says how it ended: give
        it a moment to."""
        if not run.info.warm_start:
            return
        status_file = self.run_dir(run.info.run_id) / EXIT_STATUS_FILE
        deadline = time.monotonic() + STATUS_FILE_WAIT
        while not status_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _end_unobserved(self, run: _Run, unknown: str) -> None:
        """End a run that ended while it was not our child, from the returncode its warm
        runner left or else the exit code train.py left; with `unknown` as the reason where
        there is neither (caller holds the lock)."""
        run_dir = self.run_dir(run.info.run_id)
        try:
            returncode = int(json.loads((run_dir / EXIT_STATUS_FILE).read_text())["returncode"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        else:
            if returncode < 0:
                self._conclude(run, 128 - returncode, -returncode, unknown=unknown)
            else:
                self._conclude(run, returncode, None, unknown=unknown)
            return
        try:
            code: int | None = int((run_dir / EXIT_CODE_FILE).read_text())
        except (OSError, ValueError):
            code = None
        self._conclude(run, code, None, unknown=unknown)

    def _conclude(
        self,
        run: _Run,
        exit_code: int | None,
        signal_number: int | None,
        *,
        oom_killer_fired: bool = False,
        unknown: str = "exit code unknown",
    ) -> None:
        """Record how the run ended, and why where it failed (caller holds the lock)."""
        info = run.info
        info.ended_at = datetime.now(UTC)
        if self.gpu_pool is not None:
            self.gpu_pool.give_back(info.run_id)
        info.exit_code, info.signal = exit_code, signal_number
        if info.stop_requested:
            info.status = RunStatus.STOPPED
        elif exit_code == 0:
            info.status = RunStatus.SUCCEEDED
        else:
            failure = process_failure(
                exit_code,
                signal_number,
                oom_killer_fired=oom_killer_fired,
                log_tail=tail_lines(run.record.log_path, FAILURE_TAIL_LINES),
            )
            info.status = RunStatus.FAILED
            info.failure_reason, info.oom = failure.reason.value, failure.oom
            plain = exit_code is None and failure.reason == FailureReason.PROCESS_EXITED
            info.reason = unknown if plain else failure.message
        self.registry.save(run.record)
        self._prune()

    def _prune(self) -> None:
        for run_id in self.retention.expired(run.info for run in self._runs.values()):
            del self._runs[run_id]
            self.registry.forget(run_id)

    # -- the Executor interface --------------------------------------------------------------

    def _get(self, run_id: str) -> _Run:
        try:
            return self._runs[run_id]
        except KeyError:
            raise RunNotFound(run_id) from None

    def status(self, run_id: str) -> RunInfo:
        with self._lock:
            return self._get(run_id).info

    def stop(self, run_id: str, grace_seconds: float = 10.0) -> RunInfo:
        with self._lock:
            run = self._get(run_id)
            info = run.info
            if info.finished or info.stop_requested:
                return info
            info.stop_requested = True
            self.registry.save(run.record)
            if not run.alive():
                return info  # it is ending on its own; the waiter records it as stopped
        _kill_group(run.record.pgid, signal.SIGTERM)
        threading.Thread(target=self._escalate, args=(run, grace_seconds), daemon=True).start()
        return info

    def _escalate(self, run: _Run, grace_seconds: float) -> None:
        proc = run.proc
        deadline = time.monotonic() + grace_seconds
        if proc is not None:
            try:
                if proc.wait(timeout=grace_seconds) is not None:
                    return
            except subprocess.TimeoutExpired:
                _kill_group(run.record.pgid, signal.SIGKILL)
                return
        # Not our child (adopted, or its warm runner ended): watched by its pid.
        identity = run.record.process
        if identity is None:
            return
        while identity.alive() and time.monotonic() < deadline:
            time.sleep(min(self.liveness_poll, 0.1))
        if identity.alive():
            _kill_group(run.record.pgid, signal.SIGKILL)

    def _log_path(self, run_id: str) -> Path:
        with self._lock:
            return self._get(run_id).record.log_path

    def logs(self, run_id: str, tail: int | None = None) -> list[str]:
        return tail_lines(self._log_path(run_id), tail)

    def follow_logs(self, run_id: str, tail: int | None = None) -> Iterator[str]:
        with self._log_path(run_id).open("rb") as log:
            log.seek(tail_start(log, tail))
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
            return [run.info for run in self._runs.values()]
