"""The subprocess executor with real processes: exit codes, signals, stop, logs, reaping, and
finding its runs again after the service that started them was killed.

Every behaviour runs twice: runs started cold (`python -m`) and runs forked by a warm runner;
both must be the same program."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.processes import process_alive
from trainyard_runtime.failure import OomKillCounter
from trainyard_runtime.run_environment import RunEnvironment
from trainyard_servicekit.executors import LaunchSpec, RunInfo, RunNotFound, RunStatus
from trainyard_servicekit.executors.cpu_threads import thread_defaults
from trainyard_servicekit.executors.device_pool import DevicePool, DevicesBusy
from trainyard_servicekit.executors.process_identity import ProcessIdentity
from trainyard_servicekit.executors.run_registry import Retention, RunRecord
from trainyard_servicekit.executors.subprocess import DIED_WHILE_DOWN, SubprocessExecutor
from trainyard_servicekit.executors.warm_starter import WarmStarter
from trainyard_wire.spec import JobSpec

# The programs read no spec; a run's environment holds one all the same.
TOY_SPEC = {
    "framework": "toy",
    "task": "classification",
    "model": "counter",
    "dataset": {"uri": "/data/toy", "format": "imagefolder"},
}

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
    "cuda_oom": (
        "import sys\n"
        "print('epoch 1', flush=True)\n"
        "print('torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB')\n"
        "sys.exit(1)\n"
    ),
    # Ends once told to, leaving its exit code as train.py does.
    "late_ok": (
        "import os, pathlib, time\n"
        "while not pathlib.Path('go').exists():\n"
        "    time.sleep(0.05)\n"
        "pathlib.Path(os.environ['RUN_EXIT_CODE_FILE']).write_text('0')\n"
    ),
    # A service that starts the runs named on its command line, then waits to be killed.
    "service_prog": (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from trainyard_runtime.run_environment import RunEnvironment\n"
        "from trainyard_servicekit.executors import LaunchSpec\n"
        "from trainyard_wire.spec import JobSpec\n"
        f"spec = JobSpec.model_validate({TOY_SPEC!r})\n"
        "from trainyard_servicekit.executors.subprocess import SubprocessExecutor\n"
        "from trainyard_servicekit.executors.warm_starter import WarmStarter\n"
        "warm = None\n"
        "if sys.argv[2] == 'warm':\n"
        "    warm = WarmStarter(sys.executable, ('json',), Path(sys.argv[1]) / 'warm.log')\n"
        "    warm.open()\n"
        "    while not warm.health().ready:\n"
        "        time.sleep(0.05)\n"
        "executor = SubprocessExecutor(Path(sys.argv[1]), warm=warm)\n"
        "for module in sys.argv[3:]:\n"
        "    executor.start(LaunchSpec(module, RunEnvironment(module, spec, None, None, 'file:///t')))\n"
        "while not executor.status('ok_prog').finished:\n"
        "    time.sleep(0.05)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    ),
}


@pytest.fixture(params=["cold", "warm"])
def executor(request, tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    for name, source in PROGRAMS.items():
        (modules / f"{name}.py").write_text(source)
    warm = ready_warm_starter(tmp_path) if request.param == "warm" else None
    made = SubprocessExecutor(tmp_path / "runs", warm=warm)
    made.test_env = {"PYTHONPATH": str(modules)}  # type: ignore[attr-defined]
    made.expect_warm = warm is not None  # type: ignore[attr-defined]
    yield made
    made.close()


def ready_warm_starter(tmp_path: Path, imports: tuple[str, ...] = ("json",)) -> WarmStarter:
    """A warm runner of this interpreter, once it has imported `imports` and is ready."""
    warm = WarmStarter(sys.executable, imports, tmp_path / "warm-runner.log")
    warm.open()
    wait_until(lambda: warm.health().ready, timeout=60)
    return warm


def toy_launch(run_id: str, module: str) -> LaunchSpec:
    """A run of `module` (a toy program that reads no spec) for job `run_id`."""
    spec = JobSpec.model_validate(TOY_SPEC)
    return LaunchSpec(module, RunEnvironment(run_id, spec, None, None, "file:///t"))


def launch(executor, run_id, module):
    with pytest.MonkeyPatch.context() as patch:  # the run's process inherits the environment
        patch.setenv("PYTHONPATH", executor.test_env["PYTHONPATH"])
        info = executor.start(toy_launch(run_id, module))
    assert info.warm_start == getattr(executor, "expect_warm", False)
    return info


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
    # Killed processes are gone once reaped: wait for that rather than for a fixed time.
    wait_until(lambda: not process_alive(info.pid) and not process_alive(child))


def test_stop_with_sigterm_ends_a_polite_run_quickly(executor):
    launch(executor, "polite", "polite")
    wait_until(lambda: executor.logs("polite") == ["working"])  # it runs its own code
    executor.stop("polite", grace_seconds=30)
    final = wait_finished(executor, "polite", timeout=25)
    # SIGTERM ended it: after the 30 s grace it would have been SIGKILL (9).
    assert final.status == RunStatus.STOPPED and final.signal == 15


def test_unknown_run(executor):
    with pytest.raises(RunNotFound):
        executor.status("nope")
    with pytest.raises(RunNotFound):
        executor.logs("nope")


def test_the_run_gets_its_environment_and_workdir(executor, tmp_path):
    (tmp_path / "modules" / "env_prog.py").write_text(
        "from trainyard_runtime.run_environment import RunEnvironment\n"
        "env = RunEnvironment.from_env()\n"
        "print(env.job_id, env.spec.framework, env.work_dir, env.exit_code_file.name)\n"
    )
    launch(executor, "ok2", "env_prog")
    assert wait_finished(executor, "ok2").status == RunStatus.SUCCEEDED
    run_dir: Path = executor.run_dir("ok2")
    assert executor.logs("ok2") == [f"ok2 toy {run_dir / 'work'} exit_code"]
    assert (run_dir / "work").is_dir()


def test_the_run_threads_spin_briefly_unless_the_service_says_otherwise(executor, tmp_path):
    """OpenMP threads of runs sharing cores that spin long slow each other down many times
    over: a run gets GOMP_SPINCOUNT=10000, warm or cold, unless the service sets a policy."""
    (tmp_path / "modules" / "omp_prog.py").write_text(
        "import os\nprint(os.environ.get('GOMP_SPINCOUNT'), flush=True)\n"
    )
    launch(executor, "omp", "omp_prog")
    assert wait_finished(executor, "omp").status == RunStatus.SUCCEEDED
    assert executor.logs("omp") == ["10000"]
    assert thread_defaults({"OMP_WAIT_POLICY": "PASSIVE"}) == {}
    assert thread_defaults({"GOMP_SPINCOUNT": "0"}) == {}
    assert thread_defaults({}) == {"GOMP_SPINCOUNT": "10000"}


def test_follow_logs_streams_lines_until_the_run_ends(executor, tmp_path):
    (tmp_path / "modules" / "slow_prog.py").write_text(
        "import time\n"
        "for i in range(5):\n"
        "    print(f'line {i}', flush=True)\n"
        "    time.sleep(0.15)\n"
    )
    launch(executor, "slow", "slow_prog")
    lines = list(executor.follow_logs("slow"))  # from the first line, whenever it came
    assert lines == [f"line {i}" for i in range(5)]
    assert executor.status("slow").finished  # it followed until the end, and no longer
    # After the end, following gives the tail and returns at once.
    assert list(executor.follow_logs("slow", tail=2)) == ["line 3", "line 4"]
    assert list(executor.follow_logs("slow", tail=0)) == []


def wait_until(check, timeout=20):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_a_signal_is_not_called_out_of_memory_without_the_oom_killer(executor):
    launch(executor, "killed-plain", "kill_self")
    info = wait_finished(executor, "killed-plain")
    assert (info.failure_reason, info.oom) == ("process_exited", False)


def test_a_sigkill_while_the_cgroup_counts_an_oom_kill_is_called_oom_killed(tmp_path, executor):
    events = tmp_path / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    watched = SubprocessExecutor(tmp_path / "runs-oom", oom_counter=OomKillCounter(events))
    watched.test_env = executor.test_env  # type: ignore[attr-defined]
    info = launch(watched, "oom", "polite")
    wait_until(lambda: watched.logs("oom") == ["working"])
    events.write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n")  # the kernel's count rises
    os.kill(info.pid, signal.SIGKILL)  # as the OOM killer does
    final = wait_finished(watched, "oom")
    assert (final.status, final.signal, final.exit_code) == (RunStatus.FAILED, 9, 137)
    assert (final.failure_reason, final.oom) == ("oom_killed", True)
    assert "OOM killer" in final.reason


def test_cuda_out_of_memory_in_the_output_is_the_reason(executor):
    launch(executor, "gpu", "cuda_oom")
    info = wait_finished(executor, "gpu")
    assert (info.status, info.exit_code) == (RunStatus.FAILED, 1)
    assert (info.failure_reason, info.oom) == ("cuda_oom", True)
    assert "CUDA out of memory" in info.reason


def test_a_restarted_executor_finds_its_runs_again(tmp_path, executor):
    """The service is killed; one run ended before, one trains on, one dies meanwhile, one
    ends well meanwhile. Warm-started runs too: their runner outlives the service, reaps
    them and leaves how each ended."""
    runs = tmp_path / "runs-restart"
    try:
        check_restart(tmp_path, runs, executor.test_env, executor.expect_warm)
    finally:  # whatever failed, no process of these runs outlives the test
        for record in (tmp_path / "registry").glob("*.json"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(json.loads(record.read_text())["pgid"], signal.SIGKILL)


def check_restart(tmp_path, runs, test_env, warm):
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service_prog",
            str(runs),
            "warm" if warm else "cold",
            "ok_prog",
            "stubborn",
            "polite",
            "late_ok",
        ],
        env={**os.environ, **test_env},
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert service.stdout is not None and service.stdout.readline() == b"ready\n"
    finally:
        service.kill()  # SIGKILL: no chance to tidy up
        service.wait()
        service.stdout.close()
    records = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "registry").glob("*.json")}
    wait_until(lambda: (runs / "stubborn" / "child_pid").exists())
    stubborn_child = int((runs / "stubborn" / "child_pid").read_text())
    polite_pid = records["polite"]["pid"]
    os.kill(polite_pid, signal.SIGKILL)  # dies while no service watches
    (runs / "late_ok" / "go").write_text("")  # ends while no service watches
    wait_until(lambda: not process_alive(polite_pid))
    wait_until(lambda: not process_alive(records["late_ok"]["pid"]))

    restarted = SubprocessExecutor(runs)
    ok = restarted.status("ok_prog")
    assert (ok.status, ok.exit_code) == (RunStatus.SUCCEEDED, 0)
    assert restarted.logs("ok_prog") == ["hello", "bye"]

    late = restarted.status("late_ok")  # from the exit code it left
    assert (late.status, late.exit_code, late.reason) == (RunStatus.SUCCEEDED, 0, None)

    assert {run.run_id: run.warm_start for run in restarted.list()} == dict.fromkeys(
        ["ok_prog", "late_ok", "polite", "stubborn"], warm
    )
    died = restarted.status("polite")
    if warm:  # its runner saw the signal
        assert (died.status, died.signal, died.exit_code) == (RunStatus.FAILED, 9, 137)
        assert died.reason == "killed by signal SIGKILL"
    else:
        assert (died.status, died.reason, died.exit_code) == (
            RunStatus.FAILED,
            DIED_WHILE_DOWN,
            None,
        )
    assert died.failure_reason == "process_exited" and died.ended_at is not None

    adopted = restarted.status("stubborn")
    assert adopted.status == RunStatus.RUNNING and process_alive(adopted.pid)
    assert restarted.running_count() == 1
    assert restarted.logs("stubborn") == ["started"]
    # Not our child any more, yet stop still reaches its whole group (SIGTERM ignored: KILL).
    restarted.stop("stubborn", grace_seconds=0.5)
    final = wait_finished(restarted, "stubborn")
    assert final.status == RunStatus.STOPPED
    assert (final.exit_code, final.signal) == ((137, 9) if warm else (None, None))
    wait_until(lambda: not process_alive(adopted.pid) and not process_alive(stubborn_child))

    # What the restarted executor learnt is on disk for the next restart.
    again = SubprocessExecutor(runs)
    assert {run.run_id: run.status for run in again.list()} == {
        "ok_prog": RunStatus.SUCCEEDED,
        "polite": RunStatus.FAILED,
        "stubborn": RunStatus.STOPPED,
        "late_ok": RunStatus.SUCCEEDED,
    }


def test_a_reused_pid_is_not_taken_for_the_run(tmp_path):
    """The registry names this very test process, but with another start time: not adopted."""
    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    before = SubprocessExecutor(tmp_path / "runs")
    info = RunInfo("old", RunStatus.RUNNING, "subprocess", datetime.now(UTC), pid=me.pid)
    impostor = ProcessIdentity(me.pid, me.start_time + 1)
    before.registry.save(RunRecord(info, impostor, me.pid, tmp_path / "old.log"))
    after = SubprocessExecutor(tmp_path / "runs")
    assert (after.status("old").status, after.status("old").reason) == (
        RunStatus.FAILED,
        DIED_WHILE_DOWN,
    )


def test_finished_runs_are_kept_within_the_retention(tmp_path, executor):
    kept = SubprocessExecutor(tmp_path / "runs-kept", retention=Retention(keep_finished=2))
    for run_id in ("first", "second", "third"):
        kept.test_env = executor.test_env  # type: ignore[attr-defined]
        launch(kept, run_id, "ok_prog")
        wait_finished(kept, run_id)
    assert {run.run_id for run in kept.list()} == {"second", "third"}
    assert {p.stem for p in kept.registry.directory.glob("*.json")} == {"second", "third"}
    with pytest.raises(RunNotFound):
        kept.status("first")


def test_runs_get_their_own_gpus_from_the_pool_and_give_them_back(tmp_path) -> None:
    """CUDA_VISIBLE_DEVICES per run from TRAINYARD_GPU_DEVICES; too few free is DevicesBusy."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "show_gpus.py").write_text(
        "import os, pathlib, time\n"
        "print('gpus', os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True)\n"
        "while not pathlib.Path('go').exists():\n"
        "    time.sleep(0.05)\n"
    )
    pool = DevicePool(["0", "1", "2"])
    executor = SubprocessExecutor(tmp_path / "runs", gpu_pool=pool)
    executor.test_env = {"PYTHONPATH": str(modules)}  # type: ignore[attr-defined]

    def gpu_launch(run_id: str, gpus: int) -> LaunchSpec:
        spec = JobSpec.model_validate({**TOY_SPEC, "resources": {"gpu": gpus}})
        return LaunchSpec("show_gpus", RunEnvironment(run_id, spec, None, None, "file:///t"))

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(modules))
        two = executor.start(gpu_launch("two", 2))
        with pytest.raises(DevicesBusy, match="2 GPUs asked for, 1 free now"):
            executor.start(gpu_launch("more", 2))
        one = executor.start(gpu_launch("one", 1))
    assert (two.devices, one.devices) == (["0", "1"], ["2"])
    assert pool.free() == []
    (executor.run_dir("two") / "go").touch()
    wait_finished(executor, "two")
    assert pool.free() == ["0", "1"]  # given back when the run ended
    assert executor.logs("two") == ["gpus 0,1"]
    (executor.run_dir("one") / "go").touch()
    wait_finished(executor, "one")
    assert executor.logs("one") == ["gpus 2"]
