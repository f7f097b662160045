"""The subprocess executor with real processes: exit codes, signals, stop, logs, reaping."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from platform_helpers import process_alive
from trainyard_shared.executors import LaunchSpec, RunNotFound, RunStatus
from trainyard_shared.executors.subprocess import SubprocessExecutor

PROGRAMS = {
    "ok_prog": "print('hello'); print('bye')",
    "fail_prog": "import sys; print('boom'); sys.exit(4)",
    "kill_self": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
    "stubborn": (
        "import signal, subprocess, sys, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "pathlib.Path('child_pid').write_text(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    ),
    "polite": "import time\nprint('working', flush=True)\ntime.sleep(600)\n",
}


@pytest.fixture
def executor(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    for name, source in PROGRAMS.items():
        (modules / f"{name}.py").write_text(source)
    made = SubprocessExecutor(tmp_path / "runs")
    made.test_env = {"PYTHONPATH": str(modules)}  # type: ignore[attr-defined]
    return made


def launch(executor, run_id, module):
    return executor.start(LaunchSpec(run_id, module, "{}", executor.test_env))


def wait_finished(executor, run_id, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = executor.status(run_id)
        if info.finished:
            return info
        time.sleep(0.05)
    raise AssertionError(f"{run_id} still running")


def test_exit_codes_and_output_are_recorded(executor):
    launch(executor, "ok", "ok_prog")
    launch(executor, "bad", "fail_prog")
    ok, bad = wait_finished(executor, "ok"), wait_finished(executor, "bad")
    assert (ok.status, ok.exit_code) == (RunStatus.SUCCEEDED, 0)
    assert (bad.status, bad.exit_code, bad.reason) == (RunStatus.FAILED, 4, "exited with code 4")
    assert executor.logs("ok") == ["hello", "bye"]
    assert executor.logs("ok", tail=1) == ["bye"]
    assert executor.running_count() == 0
    assert {r.run_id for r in executor.list()} == {"ok", "bad"}


def test_a_signal_is_recorded(executor):
    launch(executor, "killed", "kill_self")
    info = wait_finished(executor, "killed")
    assert info.signal == 9 and info.exit_code == 137
    assert info.reason == "killed by signal SIGKILL"


def test_stop_escalates_to_sigkill_and_takes_the_whole_group(executor):
    info = launch(executor, "stubborn", "stubborn")
    child_file = executor.run_dir("stubborn") / "child_pid"
    deadline = time.monotonic() + 20
    while not (child_file.exists() and child_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(child_file.read_text())
    executor.stop("stubborn", grace_seconds=0.5)
    final = wait_finished(executor, "stubborn")
    assert final.status == RunStatus.STOPPED and final.signal == 9
    time.sleep(0.2)
    assert not process_alive(info.pid)
    assert not process_alive(child)


def test_stop_with_sigterm_ends_a_polite_run_quickly(executor):
    launch(executor, "polite", "polite")
    time.sleep(0.3)
    started = time.monotonic()
    executor.stop("polite", grace_seconds=30)
    final = wait_finished(executor, "polite")
    assert final.status == RunStatus.STOPPED and final.signal == 15
    assert time.monotonic() - started < 10


def test_unknown_run(executor):
    with pytest.raises(RunNotFound):
        executor.status("nope")
    with pytest.raises(RunNotFound):
        executor.logs("nope")


def test_spec_and_workdir_are_laid_out(executor):
    launch(executor, "ok2", "ok_prog")
    wait_finished(executor, "ok2")
    run_dir: Path = executor.run_dir("ok2")
    assert (run_dir / "spec.json").read_text() == "{}"
    assert (run_dir / "work").is_dir()


def test_follow_logs_streams_lines_until_the_run_ends(executor, tmp_path):
    (tmp_path / "modules" / "slow_prog.py").write_text(
        "import time\n"
        "for i in range(5):\n"
        "    print(f'line {i}', flush=True)\n"
        "    time.sleep(0.15)\n"
    )
    launch(executor, "slow", "slow_prog")
    started = time.monotonic()
    lines = list(executor.follow_logs("slow", tail=0))
    assert lines == [f"line {i}" for i in range(5)]
    assert executor.status("slow").finished
    assert time.monotonic() - started < 15
    # After the end, following gives the tail and returns at once.
    assert list(executor.follow_logs("slow", tail=2)) == ["line 3", "line 4"]
