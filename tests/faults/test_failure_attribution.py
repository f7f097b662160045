"""Why a run failed, as trainyard_runtime.failure tells it for every executor and for train.py.

The executors' use of it with real processes is in tests/shared/test_subprocess_executor.py
(OOM killer, CUDA out of memory in the output) and tests/kube/test_executor_failures.py (OOMKilled,
evicted, deadline).
"""

from __future__ import annotations

import signal

import pytest

from trainyard_runtime.failure import (
    FailureReason,
    OomKillCounter,
    exception_reason,
    kubernetes_reason,
    process_failure,
)

CUDA_TRACEBACK_END = [
    '  File "train.py", line 40, in train',
    "    loss.backward()",
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a "
    "total capacity of 79.19 GiB of which 1.06 GiB is free.",
]


def test_a_sigkill_is_the_oom_killer_only_when_the_cgroup_counted_one():
    killed = process_failure(137, signal.SIGKILL, oom_killer_fired=True)
    assert (killed.reason, killed.oom) == (FailureReason.OOM_KILLED, True)
    assert "OOM killer" in killed.message and "SIGKILL" in killed.message
    plain = process_failure(137, signal.SIGKILL, oom_killer_fired=False)
    assert (plain.reason, plain.oom, plain.message) == (
        FailureReason.PROCESS_EXITED,
        False,
        "killed by signal SIGKILL",
    )
    # The OOM killer only ever sends SIGKILL: another signal is not its doing.
    other = process_failure(143, signal.SIGTERM, oom_killer_fired=True)
    assert other.reason == FailureReason.PROCESS_EXITED


def test_cuda_out_of_memory_in_the_last_lines_is_named():
    failure = process_failure(1, None, oom_killer_fired=False, log_tail=CUDA_TRACEBACK_END)
    assert (failure.reason, failure.oom) == (FailureReason.CUDA_OOM, True)
    assert failure.message.startswith("out of GPU memory (exited with code 1): torch.OutOfMem")
    assert process_failure(1, None, oom_killer_fired=False, log_tail=["boom"]).message == (
        "exited with code 1"
    )


def test_an_unknown_exit_says_so():
    failure = process_failure(None, None, oom_killer_fired=False)
    assert (failure.reason, failure.message) == (FailureReason.PROCESS_EXITED, "exit code unknown")


def test_exceptions_train_py_caught():
    # torch's own class, as torch defines it (module `torch`; torch.cuda.OutOfMemoryError is it).
    torch_oom = type("OutOfMemoryError", (RuntimeError,), {"__module__": "torch"})
    assert exception_reason(torch_oom("allocation failed")) == FailureReason.CUDA_OOM  # by type
    assert exception_reason(RuntimeError("CUDA error: out of memory")) == FailureReason.CUDA_OOM
    assert exception_reason(MemoryError()) == FailureReason.OUT_OF_MEMORY
    host = RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 1 bytes.")
    assert exception_reason(host) == FailureReason.OUT_OF_MEMORY
    assert exception_reason(RuntimeError("worker: out of memory")) == FailureReason.OUT_OF_MEMORY
    assert exception_reason(ValueError("bad label")) is None
    assert exception_reason(type("OutOfMemoryError", (Exception,), {})("x")) is None


@pytest.mark.parametrize(
    ("evicted", "terminated", "job_reason", "expected"),
    [
        (True, None, "BackoffLimitExceeded", FailureReason.EVICTED),
        (False, "OOMKilled", "BackoffLimitExceeded", FailureReason.OOM_KILLED),
        (False, None, "DeadlineExceeded", FailureReason.DEADLINE_EXCEEDED),
        (False, "Error", "BackoffLimitExceeded", FailureReason.PROCESS_EXITED),
    ],
)
def test_kubernetes_reasons(evicted, terminated, job_reason, expected):
    reason = kubernetes_reason(evicted=evicted, terminated_reason=terminated, job_reason=job_reason)
    assert reason == expected


def fake_proc(tmp_path, cgroup: str, mounts: str):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mounts").write_text(mounts)
    return proc


def test_the_oom_kill_counter_of_cgroup_v2(tmp_path):
    events = tmp_path / "cg2" / "system.slice" / "trainyard.service" / "memory.events"
    events.parent.mkdir(parents=True)
    events.write_text("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n")
    proc = fake_proc(
        tmp_path,
        "0::/system.slice/trainyard.service\n",
        f"proc /proc proc rw 0 0\ncgroup2 {tmp_path / 'cg2'} cgroup2 rw,nosuid 0 0\n",
    )
    counter = OomKillCounter.of_this_process(proc, proc / "mounts")
    assert counter.path == events and counter.read() == 2


def test_the_oom_kill_counter_of_cgroup_v1(tmp_path):
    control = tmp_path / "cg1" / "memory" / "docker" / "abc" / "memory.oom_control"
    control.parent.mkdir(parents=True)
    control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n")
    proc = fake_proc(
        tmp_path,
        "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
        f"cgroup {tmp_path / 'cg1' / 'memory'} cgroup rw,nosuid,memory 0 0\n"
        f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0\n",
    )
    assert OomKillCounter.of_this_process(proc, proc / "mounts").read() == 5


def test_no_readable_counter_reads_as_unknown(tmp_path):
    proc = fake_proc(tmp_path, "0::/nowhere\n", f"cgroup2 {tmp_path} cgroup2 rw 0 0\n")
    counter = OomKillCounter.of_this_process(proc, proc / "mounts")
    assert counter.path is None and counter.read() is None
