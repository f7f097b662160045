"""Where training runs: one interface, one implementation per tier."""

from trainyard_servicekit.executors.base import (
    Executor,
    LaunchSpec,
    RunInfo,
    RunNotFound,
    RunStatus,
)

__all__ = ["Executor", "LaunchSpec", "RunInfo", "RunNotFound", "RunStatus"]
