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
# The variables each policy sets; PyTorch's default sets none (libgomp spins ~300,000 rounds).
POLICIES: dict[str, dict[str, str]] = {
    "default": {},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin 10k": {"GOMP_SPINCOUNT": "10000"},
}
REPEATS = 2  # of each (scenario, policy), alternating policies
TIMEOUT = 900


MODELS = ("resnet18", "test_resnet")


def spec(data: Path, model: str, epochs: int) -> dict[str, Any]:
    return {
        "framework": "timm",
        "task": "classification",
        "model": model,
        "dataset": {"uri": str(data), "format": "imagefolder"},
        "hyperparams": {"epochs": epochs, "batch_size": 16, "image_size": 32, "seed": 0},
        "resources": {"gpu": 0},
        "project": "bench",
    }


def training_seconds(out: Path, job: dict[str, Any], policy: str) -> float:
    """From the end of epoch 1 to the result: the imports and the first epoch's warm-up are the
    same under every policy and left out."""
    run = run_direct_script("timm", job, out, TIMEOUT, f"timm with {policy}", env=POLICIES[policy])
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
    epochs = 2 if quick else 6
    repeats = 1 if quick else REPEATS
    names = list(POLICIES)
    table = Table(
        "Shared cores: OpenMP thread policy of runs, alone and two at once",
        f"The same timm training ({epochs} epochs, 32 px, 120 images) as a plain script, alone "
        "and as two runs at once (a service at its default capacity of 2), with PyTorch's "
        "default (idle threads spin ~300,000 rounds before they sleep), with sleeping idle "
        "threads (OMP_WAIT_POLICY=PASSIVE) and with a short spin (GOMP_SPINCOUNT=10000). Time "
        f"from the end of epoch 1 to the result; mean of {repeats} repeat(s), each repeat's "
        "values in brackets. resnet18 has few large operations per step; timm's test_resnet many "
        "tiny ones (where waking sleeping threads costs most).",
        ["model", "runs at once", *names, *(f"{n} / default" for n in names[1:])],
    )
    for model in MODELS:
        job = spec(data, model, epochs)
        for count in (1, 2):
            times: dict[str, list[float]] = {name: [] for name in names}
            for repeat in range(repeats):
                for policy in names if repeat % 2 == 0 else names[::-1]:
                    progress(f"{model}, {count} at once, {policy}, repeat {repeat + 1}")
                    folder = work / f"{model}-{count}-{policy.replace(' ', '')}-{repeat}"
                    times[policy].append(together(folder, job, policy, count))
            means = {name: statistics.fmean(times[name]) for name in names}
            table.add(
                model,
                str(count),
                *(_cell(times[name]) for name in names),
                *(f"{means[name] / means['default']:.2f}" for name in names[1:]),
            )
    table.notes += [
        "Below 1: faster than PyTorch's default. Alone, a ratio is what a policy costs on an "
        "otherwise idle machine; two at once, what it saves when runs share the cores.",
        "Each run uses PyTorch's default thread count (one per core).",
    ]
    return [table]
