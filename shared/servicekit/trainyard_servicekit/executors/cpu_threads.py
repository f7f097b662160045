"""How a run's CPU threads behave when its cores are shared.

PyTorch's CPU kernels run on an OpenMP thread pool whose idle threads spin, waiting for the next
parallel region. That wins on an idle machine and loses badly on a shared one: with two runs (or
a run and the service) on the same cores, a spinning thread holds the core a working one needs,
and every region waits for a thread that is not scheduled. Measured here on 2 busy cores: one
timm step + validation took 3.3-5.1 s with spinning threads, 0.4 s with sleeping ones. Runs
therefore default to sleeping threads (OMP_WAIT_POLICY=PASSIVE); a service whose environment sets
the variable passes its own value on instead.

A Kubernetes pod sees every core of its node but may use only its CPU limit: its thread count
follows the limit (OMP_NUM_THREADS), so a 1-CPU pod on a 64-core node does not start 64 threads
that the kernel then throttles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

WAIT_POLICY = "OMP_WAIT_POLICY"
NUM_THREADS = "OMP_NUM_THREADS"
DEFAULT_WAIT_POLICY = "PASSIVE"


def thread_defaults(service_environ: Mapping[str, str]) -> dict[str, str]:
    """What a run on this machine gets unless the service's own environment says otherwise."""
    if WAIT_POLICY in service_environ:
        return {}
    return {WAIT_POLICY: DEFAULT_WAIT_POLICY}


def pod_thread_settings(cpu_limit: float, processes: int = 1) -> dict[str, str]:
    """A pod's thread policy and count: its CPU limit shared by the processes it runs."""
    threads = max(1, math.floor(cpu_limit / max(1, processes)))
    return {WAIT_POLICY: DEFAULT_WAIT_POLICY, NUM_THREADS: str(threads)}
