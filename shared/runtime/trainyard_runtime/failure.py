"""Why a run failed, in one place for every executor and for train.py itself.

A failure has a machine-readable reason (what a client branches on), a message for people and
an `oom` flag (the run ran out of memory, host or GPU). The subprocess executor judges an exit
from its exit code or signal, the cgroup's OOM-kill counter and the output's last lines; the
Kubernetes executor from the container's terminated reason and the pod's eviction; train.py
from the exception it caught.
"""

from __future__ import annotations

import re
import signal as signals
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from trainyard_wire.failures import FailureReason, is_oom

# What PyTorch prints when the GPU runs out of memory: the exception's type as a traceback
# names it, and the messages of the caching allocator and of a failed CUDA call.
CUDA_OOM_PATTERN = re.compile(
    r"CUDA out of memory|CUDA error: out of memory|torch\.(?:cuda\.)?OutOfMemoryError"
)

HOST_OOM_PATTERN = re.compile(r"out of memory|not enough memory", re.IGNORECASE)


@dataclass(frozen=True)
class Failure:
    reason: FailureReason
    message: str

    @property
    def oom(self) -> bool:
        return is_oom(self.reason)


def cuda_oom_line(lines: Iterable[str]) -> str | None:
    """The last output line that says the GPU ran out of memory, if any."""
    found = None
    for line in lines:
        if CUDA_OOM_PATTERN.search(line):
            found = line.strip()
    return found


def describe_exit(exit_code: int | None, signal: int | None) -> str:
    if exit_code is None and signal is None:
        return "exit code unknown"
    if signal:
        try:
            return f"killed by signal {signals.Signals(signal).name}"
        except ValueError:
            return f"killed by signal {signal}"
    return f"exited with code {exit_code}"


def process_failure(
    exit_code: int | None,
    signal: int | None,
    *,
    oom_killer_fired: bool,
    log_tail: Sequence[str] = (),
) -> Failure:
    """A process that ended badly, stopped by no one: the most specific reason it allows.

    `oom_killer_fired`: the OOM-kill counter of the cgroup rose while the process ran. Only a
    SIGKILL can be the OOM killer's; any other ending is judged on its own.
    """
    how = describe_exit(exit_code, signal)
    if signal == signals.SIGKILL and oom_killer_fired:
        return Failure(
            FailureReason.OOM_KILLED,
            f"out of memory: the kernel's OOM killer ended train.py ({how}); use a smaller "
            "batch_size or image_size, or a machine with more memory",
        )
    line = cuda_oom_line(log_tail)
    if line:
        return Failure(
            FailureReason.CUDA_OOM,
            f"out of GPU memory ({how}): {line[:500]}; use a smaller batch_size or image_size",
        )
    return Failure(FailureReason.PROCESS_EXITED, how)


def exception_reason(exc: BaseException) -> FailureReason | None:
    """The memory failure an exception caught in train.py stands for, if it is one."""
    kind = type(exc)
    names = {f"{cls.__module__}.{cls.__qualname__}" for cls in kind.__mro__}
    message = str(exc)
    if names & {"torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError"} or (
        CUDA_OOM_PATTERN.search(message)
    ):
        return FailureReason.CUDA_OOM
    # PyTorch's CPU allocator says "DefaultCPUAllocator: not enough memory: …".
    if isinstance(exc, MemoryError) or HOST_OOM_PATTERN.search(message):
        return FailureReason.OUT_OF_MEMORY
    return None


def kubernetes_reason(
    *, evicted: bool, terminated_reason: str | None, job_reason: str | None
) -> FailureReason:
    """A failed Job's reason from what its newest pod and the Job controller say."""
    if evicted:
        return FailureReason.EVICTED
    if terminated_reason == "OOMKilled":
        return FailureReason.OOM_KILLED
    if job_reason == "DeadlineExceeded":
        return FailureReason.DEADLINE_EXCEEDED
    return FailureReason.PROCESS_EXITED


class OomKillCounter:
    """The `oom_kill` count of this process's memory cgroup: how many processes in it (and
    below it) the kernel's OOM killer has ended. Runs started by a service share its cgroup.

    cgroup v2 keeps it in `memory.events`, cgroup v1 in `memory.oom_control` (Linux 4.13+).
    Where neither is readable, `read()` gives None and OOM kills cannot be told apart from
    other SIGKILLs.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @classmethod
    def of_this_process(
        cls, proc: Path = Path("/proc/self"), mounts: Path = Path("/proc/self/mounts")
    ) -> OomKillCounter:
        return cls(_find_counter_file(proc / "cgroup", mounts))

    def read(self) -> int | None:
        if self.path is None:
            return None
        try:
            text = self.path.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return None


def _cgroup_mounts(mounts: Path) -> tuple[Path | None, Path | None]:
    """Where the cgroup v2 hierarchy and the v1 memory controller are mounted, if they are."""
    unified = memory = None
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        where, fstype, options = Path(fields[1]), fields[2], fields[3].split(",")
        if fstype == "cgroup2" and unified is None:
            unified = where
        elif fstype == "cgroup" and "memory" in options and memory is None:
            memory = where
    return unified, memory


def _find_counter_file(cgroup: Path, mounts: Path) -> Path | None:
    try:
        lines = cgroup.read_text().splitlines()
    except OSError:
        return None
    unified, memory = _cgroup_mounts(mounts)
    candidates: list[Path] = []
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        relative = path.strip().lstrip("/")
        if memory is not None and "memory" in controllers.split(","):
            candidates.append(memory / relative / "memory.oom_control")
        elif hierarchy == "0" and not controllers and unified is not None:
            candidates.append(unified / relative / "memory.events")
    for candidate in candidates:
        if OomKillCounter(candidate).read() is not None:
            return candidate
    return None
