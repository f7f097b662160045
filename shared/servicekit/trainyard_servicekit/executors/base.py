"""The executor interface: start, status, stop, logs, list — the same for every tier."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from trainyard_runtime.run_environment import RunEnvironment
from trainyard_wire.runs import RunView
from trainyard_wire.spec import JobSpec


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # exited 0
    FAILED = "failed"  # exited non-zero or killed by a signal it was not sent by us
    STOPPED = "stopped"  # ended after a stop request


FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED})


class RunNotFound(KeyError):
    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"no run {self.run_id!r}"


@dataclass(frozen=True)
class LaunchSpec:
    """What to run: `python -m {module}` in the run's environment (which holds the job spec)."""

    module: str
    environment: RunEnvironment
    attempt: int = 1  # of the job (StartRun.attempt)
    # Ranks the executor starts per node through the distributed launcher; 1: train.py itself
    # (one process, or a framework that starts its own, like Ultralytics).
    ranks_per_node: int = 1

    @property
    def run_id(self) -> str:
        return self.environment.job_id

    @property
    def spec(self) -> JobSpec:
        return self.environment.spec


@dataclass
class RunInfo:
    run_id: str
    status: RunStatus
    executor: str
    started_at: datetime
    ended_at: datetime | None = None
    pid: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None  # for people: why it waits, or how it ended
    stop_requested: bool = False
    # A failed run's machine-readable reason (trainyard_runtime.failure.FailureReason) and
    # whether it ran out of memory (host or GPU).
    failure_reason: str | None = None
    oom: bool = False
    # Training processes it runs on this machine (a distributed run's ranks on this node).
    processes: int = 1
    # The job's attempt it runs, where the executor keeps it (None: not known).
    attempt: int | None = None
    # The GPUs it was given from the service's pool (its CUDA_VISIBLE_DEVICES); None: no pool.
    devices: list[str] | None = None
    warm_start: bool = False  # forked from the warm runner, not started cold

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def view(self) -> RunView:
        """What the service answers about this run."""
        return RunView(
            run_id=self.run_id,
            status=self.status.value,
            executor=self.executor,
            started_at=self.started_at,
            ended_at=self.ended_at,
            pid=self.pid,
            exit_code=self.exit_code,
            signal=self.signal,
            reason=self.reason,
            stop_requested=self.stop_requested,
            failure_reason=self.failure_reason,
            oom=self.oom,
            warm_start=self.warm_start,
        )


class Executor(ABC):
    name: str
    # Whether its runs see this machine's files (a local dataset path is checked here then).
    runs_on_this_machine: bool = False
    # The most nodes one run may span (spec.distributed.nodes).
    max_nodes: int = 1

    @abstractmethod
    def start(self, launch: LaunchSpec) -> RunInfo: ...

    @abstractmethod
    def status(self, run_id: str) -> RunInfo: ...

    @abstractmethod
    def stop(self, run_id: str, grace_seconds: float = 10.0) -> RunInfo: ...

    @abstractmethod
    def logs(self, run_id: str, tail: int | None = None) -> list[str]: ...

    @abstractmethod
    def follow_logs(self, run_id: str, tail: int | None = None) -> Iterator[str]:
        """The last `tail` lines, then each new line as it is written, until the run ends."""

    @abstractmethod
    def list(self) -> list[RunInfo]: ...

    def running_count(self) -> int:
        return sum(1 for run in self.list() if not run.finished)

    def running_processes(self) -> int:
        """Training processes its unfinished runs hold: what its capacity counts on one machine."""
        return sum(run.processes for run in self.list() if not run.finished)
