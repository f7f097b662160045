"""Shared cores: what the runs' OpenMP thread policy costs alone and saves when runs share cores.

A training service runs up to MAX_CONCURRENT_RUNS at once on one machine (2 by default), each
with as many PyTorch CPU threads as the machine has cores. OpenMP's idle threads spin by
default (ACTIVE); Trainyard's runs get OMP_WAIT_POLICY=PASSIVE (executors/cpu_threads.py). The
same timm training (bench/direct/timm_direct.py, the service's own model, data and epoch code)
runs alone and as two at once, with each policy, so both sides of the choice are measured.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.direct_run import run_direct_script
from bench.measure import sec
from bench.report import Table, progress
from trainyard_dev.synthetic import make_classification

NAME = "shared-cores"
POLICIES = ("ACTIVE", "PASSIVE")
REPEATS = 2  # of each (scenario, policy), alternating policies
TIMEOUT = 900


def spec(data: Path, epochs: int) -> dict[str, Any]:
    return {
        "framework": "timm",
        "task": "classification",
        "model": "resnet18",
        "dataset": {"uri": str(data), "format": "imagefolder"},
        "hyperparams": {"epochs": epochs, "batch_size": 16, "image_size": 32, "seed": 0},
        "resources": {"gpu": 0},
        "project": "bench",
    }


def training_seconds(out: Path, job: dict[str, Any], policy: str) -> float:
    """From the end of epoch 1 to the result: the imports and the first epoch's warm-up are the
    same under both policies and left out."""
    run = run_direct_script(
        "timm", job, out, TIMEOUT, f"timm with {policy}", env={"OMP_WAIT_POLICY": policy}
    )
    first = next(r["time"] for r in run.reports if r.get("epoch") == 1)
    result = next(r["time"] for r in run.reports if "metrics" in r)
    return result - first


def together(work: Path, job: dict[str, Any], policy: str, count: int) -> float:
    """`count` runs started at once; the time until the last of them has its result."""
    with ThreadPoolExecutor(count) as pool:
        futures = [
            pool.submit(training_seconds, work / f"run-{i}", job, policy) for i in range(count)
        ]
        return max(f.result() for f in futures)


def _cell(times: list[float]) -> str:
    mean = sec(statistics.fmean(times))
    return f"{mean} ({', '.join(f'{t:.1f}' for t in times)})" if len(times) > 1 else mean


def run(work: Path, quick: bool) -> list[Table]:
    data = make_classification(work / "shapes", train_per_class=40, val_per_class=10, size=32)
    job = spec(data, 2 if quick else 6)
    repeats = 1 if quick else REPEATS
    table = Table(
        "Shared cores: OpenMP thread policy of runs, alone and two at once",
        f"The same timm training (resnet18, {job['hyperparams']['epochs']} epochs, 32 px, 120 "
        "images) as a plain script, alone and as two runs at once (a service at its default "
        "capacity of 2), with OpenMP's spinning idle threads (ACTIVE, PyTorch's default) and "
        "sleeping ones (PASSIVE, what Trainyard's runs get). Time from the end of epoch 1 to the "
        f"result; mean of {repeats} repeat(s), each repeat's values in brackets.",
        ["runs at once", "ACTIVE", "PASSIVE", "ratio PASSIVE/ACTIVE"],
    )
    for count in (1, 2):
        times: dict[str, list[float]] = {p: [] for p in POLICIES}
        for repeat in range(repeats):
            order = POLICIES if repeat % 2 == 0 else POLICIES[::-1]
            for policy in order:
                progress(f"{count} at once, {policy}, repeat {repeat + 1}")
                folder = work / f"{count}-{policy}-{repeat}"
                times[policy].append(together(folder, job, policy, count))
        active, passive = (statistics.fmean(times[p]) for p in POLICIES)
        table.add(
            str(count),
            _cell(times["ACTIVE"]),
            _cell(times["PASSIVE"]),
            f"{passive / active:.2f}",
        )
    table.notes += [
        "Below 1: sleeping threads are faster. Alone, the ratio is what PASSIVE costs on an idle "
        "machine; two at once, what it saves when runs share the cores.",
        "Each run uses PyTorch's default thread count (one per core).",
    ]
    return [table]
