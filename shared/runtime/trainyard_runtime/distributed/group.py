"""Run one node's share of a distributed run with torchrun's own agent, in this process.

`torch.distributed.run` is called as a library (not as a child `torchrun`), so the launcher
sees how the group ended: its `ChildFailedError` names each failed rank with its exit code or
signal. `max_restarts` is 0: a rank that dies ends the group at once (no survivors waiting in
a collective); a retry of the whole job starts the group again from its checkpoint. torch is
imported here only when a group runs.
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass

from trainyard_runtime.distributed.verdict import GroupOutcome, RankExit

# Seconds torchrun gives its workers between SIGTERM and SIGKILL when the group stops: below the
# service's own grace (STOP_GRACE_SECONDS, 10 s by default), so no rank outlives its launcher.
SHUTDOWN_SECONDS = 5


class Cancelled(BaseException):
    """The launcher was asked to stop (SIGTERM) before torchrun took over its signals."""


@dataclass(frozen=True)
class GroupShape:
    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None  # None with one node: a free port (torchrun --standalone)

    def torchrun_args(self, module: str) -> list[str]:
        common = [
            f"--nproc-per-node={self.nproc_per_node}",
            "--max-restarts=0",
            f"--shutdown-timeout={SHUTDOWN_SECONDS}",
            "--monitor-interval=0.2",
        ]
        if self.nnodes == 1 and self.master_port is None:
            where = ["--standalone", "--nnodes=1"]
        else:
            where = [
                f"--nnodes={self.nnodes}",
                f"--node-rank={self.node_rank}",
                f"--master-addr={self.master_addr}",
                f"--master-port={self.master_port}",
            ]
        return [*where, *common, "--module", module]


def _split_exit(code: int) -> tuple[int | None, int | None]:
    if code < 0:
        return 128 - code, -code
    return code, None


def run_group(shape: GroupShape, module: str) -> GroupOutcome:
    """Start the node's ranks as `python -m module` and wait for the group to end."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(shape.torchrun_args(module))
    try:
        run(args)
    except ChildFailedError as exc:
        ordered = sorted(exc.failures.items(), key=lambda item: item[1].timestamp)
        return GroupOutcome(
            failures=[RankExit(rank, *_split_exit(failure.exitcode)) for rank, failure in ordered]
        )
    except SignalException as exc:
        if exc.sigval in (signals.SIGTERM, signals.SIGINT):
            return GroupOutcome(cancelled=True)
        return GroupOutcome(error=f"the launcher got signal {exc.sigval.name}")
    except Cancelled:
        return GroupOutcome(cancelled=True)
    except Exception as exc:  # rendezvous timeouts and the like: the group never ran
        return GroupOutcome(error=f"torchrun could not run the group: {type(exc).__name__}: {exc}")
    return GroupOutcome(succeeded=True)
