"""How a run's CPU threads wait when its cores are shared.

PyTorch's CPU kernels run on an OpenMP thread pool (GNU libgomp in PyTorch's Linux wheels)
whose idle threads spin about 300,000 rounds before they sleep, waiting for the next parallel
region. That wins on an idle machine and loses badly on a shared one: with two runs (or a run
and the service) on the same cores, a spinning thread holds the core a working one needs, and
every region waits for a thread that is not scheduled. Measured on 2 idle cores
(bench/shared_cores.py, resnet18 at 32 px): two runs at once took 7.8x as long as one alone.

Runs therefore spin briefly (GOMP_SPINCOUNT=10000) and then sleep: 1.02x PyTorch's default when
a run is alone, 0.31x it when two share the cores. Sleeping at once (OMP_WAIT_POLICY=PASSIVE)
shares best (0.18x) but costs 1.20x alone, and 2x for models of many tiny operations; a service
whose environment sets either variable passes its own choice on instead.

A Kubernetes pod sees every core of its node but may use only its CPU limit: its thread count
follows the limit (OMP_NUM_THREADS), so a 1-CPU pod on a 64-core node does not start 64 threads
that the kernel then throttles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

WAIT_POLICY = "OMP_WAIT_POLICY"
SPIN_COUNT = "GOMP_SPINCOUNT"
NUM_THREADS = "OMP_NUM_THREADS"
DEFAULT_SPIN_COUNT = "10000"


def thread_defaults(service_environ: Mapping[str, str]) -> dict[str, str]:
    """What a run on this machine gets unless the service's own environment says otherwise."""
    if WAIT_POLICY in service_environ or SPIN_COUNT in service_environ:
        return {}
    return {SPIN_COUNT: DEFAULT_SPIN_COUNT}


def pod_thread_settings(cpu_limit: float, processes: int = 1) -> dict[str, str]:
    """A pod's threads: its CPU limit shared by the processes it runs, a short spin."""
    threads = max(1, math.floor(cpu_limit / max(1, processes)))
    return {SPIN_COUNT: DEFAULT_SPIN_COUNT, NUM_THREADS: str(threads)}
