"""The warm runner's own life: replaced when it dies, bypassed where a fork would differ.

What its runs do (exit codes, signals, stop, logs, restarts) is tested cold and warm alike in
test_subprocess_executor.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.shared.test_subprocess_executor import (
    launch,
    ready_warm_starter,
    wait_finished,
    wait_until,
)
from tests.support.processes import process_alive
from trainyard_servicekit.executors import RunStatus
from trainyard_servicekit.executors.subprocess import SubprocessExecutor
from trainyard_servicekit.executors.warm_runner import EXIT_NOT_STARTED, NOT_STARTED_FILE
from trainyard_servicekit.executors.warm_starter import WarmStarter, keep_log_bounded

PROGRAMS = {
    "ok_prog": "print('hello'); print('bye')",
    "raises": "print('before', flush=True)\nraise ValueError('bad value')\n",
    "waits_for_go": (
        "import os, pathlib, time\n"
        "print('waiting', flush=True)\n"
        "while not pathlib.Path('go').exists():\n"
        "    time.sleep(0.05)\n"
        "pathlib.Path(os.environ['RUN_EXIT_CODE_FILE']).write_text('5')\n"
        "raise SystemExit(5)\n"
    ),
    "hash_seed": "import os; print(os.environ.get('PYTHONHASHSEED'))",
    # Imported by a runner: it dies right after telling the service a child's pid, before it
    # confirms the child (a window of one write in a real runner).
    "runner_dies_before_go": (
        "import os, sys\n"
        "warm_runner = sys.modules['__main__']  # the runner runs as `python -m`\n"
        "send = warm_runner.Runner.send\n"
        "def dying_send(self, message):\n"
        "    send(self, message)\n"
        "    if 'run_id' in message and 'pid' in message:\n"
        "        os._exit(9)\n"
        "warm_runner.Runner.send = dying_send\n"
    ),
}


@pytest.fixture
def modules(tmp_path):
    folder = tmp_path / "modules"
    folder.mkdir()
    for name, source in PROGRAMS.items():
        (folder / f"{name}.py").write_text(source)
    return {"PYTHONPATH": str(folder)}


def make(tmp_path, modules, name, warm):
    executor = SubprocessExecutor(tmp_path / name, warm=warm)
    executor.test_env = modules  # type: ignore[attr-defined]
    executor.expect_warm = warm is not None  # type: ignore[attr-defined]
    return executor


def test_an_uncaught_exception_ends_a_warm_run_as_it_ends_a_cold_one(tmp_path, modules):
    warm = ready_warm_starter(tmp_path)
    cold_executor = make(tmp_path, modules, "cold", None)
    warm_executor = make(tmp_path, modules, "warm", warm)
    try:
        launch(cold_executor, "cold", "raises")
        launch(warm_executor, "warm", "raises")
        cold, hot = wait_finished(cold_executor, "cold"), wait_finished(warm_executor, "warm")
        assert (hot.status, hot.exit_code, hot.reason) == (cold.status, 1, cold.reason)
        cold_lines, warm_lines = cold_executor.logs("cold"), warm_executor.logs("warm")
        assert warm_lines[0] == cold_lines[0] == "before"
        assert warm_lines[1] == cold_lines[1] == "Traceback (most recent call last):"
        assert warm_lines[-2:] == cold_lines[-2:]
        assert warm_lines[-1] == "ValueError: bad value"
    finally:
        warm_executor.close()


def test_a_killed_runner_is_replaced_and_its_running_run_still_ends(tmp_path, modules):
    warm = ready_warm_starter(tmp_path)
    executor = make(tmp_path, modules, "runs", warm)
    try:
        running = launch(executor, "running", "waits_for_go")
        wait_until(lambda: executor.logs("running") == ["waiting"])
        runner_pid = warm.health().pid
        assert runner_pid is not None
        os.kill(runner_pid, signal.SIGKILL)
        wait_until(lambda: warm.health().restarts == 1)
        health = warm.health()
        assert health.last_failure == f"warm runner {runner_pid} ended with signal SIGKILL"
        assert process_alive(running.pid)  # the run goes on without the runner
        wait_until(lambda: warm.health().ready, timeout=60)
        assert warm.health().pid not in (None, runner_pid)

        assert launch(executor, "after", "ok_prog").warm_start  # forked by the replacement
        after = wait_finished(executor, "after")
        assert (after.status, executor.logs("after")) == (RunStatus.SUCCEEDED, ["hello", "bye"])

        # The orphaned run ends with the exit code it left (no runner reaped it).
        (executor.run_dir("running") / "go").write_text("")
        ended = wait_finished(executor, "running")
        assert (ended.status, ended.exit_code) == (RunStatus.FAILED, 5)
    finally:
        executor.close()


def test_a_run_whose_runner_died_before_confirming_it_starts_cold_and_runs_once(
    tmp_path, modules, monkeypatch
):
    monkeypatch.setenv("PYTHONPATH", modules["PYTHONPATH"])  # the runner imports from there
    warm = ready_warm_starter(tmp_path, imports=("runner_dies_before_go",))
    executor = make(tmp_path, modules, "runs", warm)
    try:
        forked = launch(executor, "run", "ok_prog")
        assert forked.warm_start
        forked_pid = forked.pid
        done = wait_finished(executor, "run")
        assert (done.status, done.exit_code) == (RunStatus.SUCCEEDED, 0)
        assert not done.warm_start and done.pid != forked_pid  # started again, cold
        assert executor.logs("run") == ["hello", "bye"]  # its code ran once
        assert (executor.run_dir("run") / NOT_STARTED_FILE).exists()
    finally:
        executor.close()


def test_a_run_whose_startup_environment_differs_starts_cold(tmp_path, modules, monkeypatch):
    """PYTHONHASHSEED is read as an interpreter starts: a fork would keep the runner's."""
    warm = ready_warm_starter(tmp_path)
    executor = make(tmp_path, modules, "runs", warm)
    try:
        monkeypatch.setenv("PYTHONHASHSEED", "7")
        executor.expect_warm = False  # type: ignore[attr-defined]
        launch(executor, "seeded", "hash_seed")
        assert wait_finished(executor, "seeded").status == RunStatus.SUCCEEDED
        assert executor.logs("seeded") == ["7"]
    finally:
        executor.close()


def test_switched_off_every_run_starts_cold(tmp_path, modules):
    warm = WarmStarter("python", ("json",), tmp_path / "warm.log", enabled=False)
    executor = make(tmp_path, modules, "runs", warm)
    executor.expect_warm = False  # type: ignore[attr-defined]
    executor.open()
    health = warm.health()
    assert (health.enabled, health.ready, health.pid) == (False, False, None)
    launch(executor, "cold", "ok_prog")
    assert wait_finished(executor, "cold").status == RunStatus.SUCCEEDED
    executor.close()


def test_the_runners_log_moves_aside_past_its_bound(tmp_path):
    log = tmp_path / "warm-runner.log"
    keep_log_bounded(log, max_bytes=10)  # no log yet: nothing to do
    log.write_bytes(b"x" * 11)
    keep_log_bounded(log, max_bytes=10)
    assert not log.exists() and (tmp_path / "warm-runner.log.1").read_bytes() == b"x" * 11
    log.write_bytes(b"y" * 5)
    keep_log_bounded(log, max_bytes=10)  # under the bound: kept where it is
    assert log.read_bytes() == b"y" * 5


CHILD_WITHOUT_GO = """
import os, sys
from pathlib import Path
from trainyard_servicekit.executors.warm_runner import ChildRun
folder, confirm = Path(sys.argv[1]), sys.argv[2] == "go"
ready_read, ready_write = os.pipe()
go_read, go_write = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(ready_read); os.close(go_write)
    request = {
        "log_path": str(folder / "out.log"),
        "cwd": str(folder),
        "env": {},
        "status_path": str(folder / "exit_status"),
    }
    ChildRun(request, ready_write, go_read).prepare()
    (folder / "ran").write_text("the run's code ran")
    os._exit(0)
os.close(ready_write); os.close(go_read)
os.read(ready_read, 1)
if confirm:
    os.write(go_write, b"1")
os.close(go_write)  # without a "go": as when the runner dies before the service knows the pid
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.mark.parametrize("confirm", ["go", "die"])
def test_a_child_whose_runner_died_before_confirming_it_never_runs(tmp_path, confirm):
    """Else the service, having no pid for the run, starts it cold and the job trains twice."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD_WITHOUT_GO, str(tmp_path), confirm],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    if confirm == "go":
        assert done.stdout.strip() == "0" and (tmp_path / "ran").exists()
    else:
        assert done.stdout.strip() == str(EXIT_NOT_STARTED)
        assert not (tmp_path / "ran").exists()
        assert (tmp_path / NOT_STARTED_FILE).exists()  # the service starts the run cold
