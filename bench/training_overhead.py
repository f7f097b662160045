"""Training overhead: the same training run directly with its framework and through Trainyard.

Per framework, the same spec (model, data, seed, epochs, image size, batch size) runs as a plain
script in the framework's own environment (`bench/direct/`) and as a job (POST /v1/jobs until
`succeeded`) on a real gateway and the framework's real service. With more than one pair,
runs alternate (direct, Trainyard, Trainyard, direct) so drift hits both alike.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.direct_run import run_direct_script
from bench.jobs import unix_time
from bench.measure import sec
from bench.report import Table, progress
from bench.stack import Stack
from trainyard_client import Client
from trainyard_dev.launcher import SERVICES
from trainyard_dev.synthetic import make_classification, make_yolo

NAME = "training"
TARGET = 1.03
# Pairs of runs per framework (direct, Trainyard, Trainyard, direct: drift cancels out). A
# direct run pays ~10 s of imports, then ~10 s of training; a warm-started Trainyard run only
# the training. Three pairs give each ratio a spread (the lowest and highest pair's) to judge
# a 3 % difference by, and the suite still fits 15 minutes on an idle 2-core machine.
RUNS = 3
# The wait for a job polls the gateway this often. The times come from the gateway's own
# stamps, so polling sooner measures nothing better and only competes with the training.
POLL_SECONDS = 1.0
TIMEOUT = 300  # for one run, either way


@dataclass(frozen=True)
class Case:
    framework: str
    model: str
    task: str
    hyperparams: dict[str, Any]
    compare: tuple[str, ...]  # final metrics shown side by side
    options: dict[str, Any] = field(default_factory=dict)


CASES = (
    Case(
        "timm",
        "resnet18",
        "classification",
        {"epochs": 15, "batch_size": 16, "image_size": 32, "learning_rate": 0.01},
        ("top1", "val_loss"),
    ),
    Case(
        "ultralytics",
        "yolo11n.yaml",
        "detection",
        {"epochs": 15, "batch_size": 8, "image_size": 64, "learning_rate": 0.01},
        ("train/box_loss", "val/mAP50"),
    ),
    Case(
        "huggingface",
        "vit-tiny",
        "classification",
        {"epochs": 15, "batch_size": 16, "image_size": 32, "learning_rate": 0.002},
        ("accuracy", "val_loss"),
    ),
)


@dataclass
class Run:
    wall: float  # start to result
    first_epoch: float  # start to the end of epoch 1
    metrics: dict[str, float]


def make_datasets(root: Path) -> dict[str, Path]:
    return {
        "classification": make_classification(
            root / "shapes", train_per_class=40, val_per_class=10, size=32
        ),
        "detection": make_yolo(root / "shapes-yolo", train_images=32, val_images=8, size=64),
    }


def job_spec(case: Case, dataset: Path, quick: bool) -> dict[str, Any]:
    hyperparams = {**case.hyperparams, "seed": 0}
    if quick:
        hyperparams["epochs"] = 1
    return {
        "framework": case.framework,
        "task": case.task,
        "model": case.model,
        "dataset": {
            "uri": str(dataset),
            "format": "yolo" if case.task == "detection" else "imagefolder",
        },
        "hyperparams": hyperparams,
        "options": case.options,
        "resources": {"gpu": 0},
        "project": "bench",
    }


def run_direct(case: Case, spec: dict[str, Any], out: Path) -> Run:
    """The plain script, timed from its start until it prints its result (its interpreter's
    teardown after that is no part of either side's time)."""
    direct = run_direct_script(case.framework, spec, out, TIMEOUT, f"direct {case.framework} run")
    started, reports = direct.started, direct.reports
    first = next(r["time"] for r in reports if r.get("epoch") == 1)
    result = next(r for r in reports if "metrics" in r)
    return Run(result["time"] - started, first - started, result["metrics"])


def run_platform(api: Client, spec: dict[str, Any]) -> Run:
    """The job, timed from sending POST /v1/jobs until the gateway stored `succeeded`."""
    started = time.time()
    job = api.create_job(spec)
    done = api.wait(job.id, timeout=TIMEOUT, poll_interval=POLL_SECONDS)
    if done.state != "succeeded" or done.finished_at is None:
        raise RuntimeError(f"job {job.id} ended {done.state}: {done.error}")
    epochs = api.metrics(job.id).epochs
    return Run(
        unix_time(done.finished_at) - started,
        unix_time(epochs[0].time) - started,
        done.metrics or {},
    )


def _spread(direct: list[Run], platform: list[Run], part: str) -> str:
    """The ratio of the means, then the lowest and highest ratio of one pair (run i of each)."""

    def value(run: Run) -> float:
        return run.wall if part == "wall" else run.wall - run.first_epoch

    mean = statistics.fmean(value(r) for r in platform) / statistics.fmean(value(r) for r in direct)
    pairs = [value(p) / value(d) for d, p in zip(direct, platform, strict=False)]
    if len(pairs) < 2:
        return f"{mean:.2f}"
    return f"{mean:.2f} ({min(pairs):.2f}-{max(pairs):.2f})"


def _walls(runs: list[Run]) -> str:
    mean = statistics.fmean(r.wall for r in runs)
    each = ", ".join(f"{r.wall:.1f}" for r in runs)
    return f"{mean:.1f} s ({each})" if len(runs) > 1 else sec(mean)


def _metrics(run: Run, names: tuple[str, ...]) -> str:
    return ", ".join(f"{n} {run.metrics.get(n, math.nan):.4f}" for n in names)


def _agree(a: Run, b: Run, names: tuple[str, ...]) -> str:
    same = all(
        math.isclose(
            a.metrics.get(n, math.nan), b.metrics.get(n, math.nan), rel_tol=1e-6, abs_tol=1e-9
        )
        for n in names
    )
    return "identical" if same else "differ"


def run(work: Path, quick: bool) -> list[Table]:
    runs = 1 if quick else RUNS
    data = make_datasets(work / "datasets")
    table = Table(
        "Training overhead: direct vs through Trainyard",
        "The same training per framework (same spec and seed), run as a plain script in the "
        "framework's environment and as a Trainyard job. Wall time: until the result is there "
        "(script start until it prints its final metrics; POST /v1/jobs sent until the gateway "
        "stored `succeeded`). First epoch: start to the end of epoch 1 as stamped by the "
        "training process.",
        [
            "framework (model, data)",
            "direct wall",
            "Trainyard wall",
            "ratio Trainyard/direct (pairs' range)",
            "after epoch 1: ratio (pairs' range)",
            "first epoch: direct / Trainyard",
            "Trainyard's extra: before / after epoch 1",
            "final metrics: direct",
            "final metrics: Trainyard",
            "metrics",
        ],
    )
    service_var = {c.name: c.env_var for c in SERVICES}
    over: list[str] = []
    errors: list[str] = []
    for case in CASES:
        dataset = data["detection" if case.task == "detection" else "classification"]
        spec = job_spec(case, dataset, quick)
        order = ["direct", "platform", "platform", "direct"] * runs
        order = order[: 2 * runs]
        direct: list[Run] = []
        platform: list[Run] = []
        with Stack(work / case.framework) as stack:
            _, service = stack.service(case.framework)
            gateway = stack.gateway(**{str(service_var[case.framework]): service})
            progress(f"{case.framework}: service up")
            with Client(gateway.url) as api:
                for i, kind in enumerate(order):
                    progress(f"{case.framework}: {kind} run")
                    if kind == "direct":
                        run = run_direct(case, spec, work / case.framework / f"direct-{i}")
                        direct.append(run)
                    else:
                        platform.append(run_platform(api, spec))
        if note := stack.error_note(f"{case.framework}: "):
            errors.append(note)
        d_wall = statistics.fmean(r.wall for r in direct)
        p_wall = statistics.fmean(r.wall for r in platform)
        d_first = statistics.fmean(r.first_epoch for r in direct)
        p_first = statistics.fmean(r.first_epoch for r in platform)
        hp = spec["hyperparams"]
        if p_wall / d_wall > TARGET:
            over.append(case.framework)
        table.add(
            f"{case.framework} ({case.model}, {hp['epochs']} epochs, {hp['image_size']} px)",
            _walls(direct),
            _walls(platform),
            _spread(direct, platform, "wall"),
            _spread(direct, platform, "after"),
            f"{sec(d_first)} / {sec(p_first)}",
            f"{sec(p_first - d_first)} / {sec((p_wall - p_first) - (d_wall - d_first))}",
            _metrics(direct[0], case.compare),
            _metrics(platform[0], case.compare),
            _agree(direct[0], platform[0], case.compare),
        )
    table.notes += [
        f"{runs} run(s) of each per framework, alternating; CPU only.",
        f"Target: ratio <= {TARGET}. A direct run pays ~10-20 s of importing torch and the "
        "framework; a Trainyard run forked warm (WARM_STARTS, on by default) does not, and adds "
        "the request, dispatch, reporting and the checkpoint uploads. 'After epoch 1' leaves "
        "the start out: epochs 2 on, the final checkpoints and the final report.",
    ]
    if over:
        table.notes.append(
            f"Over target: {', '.join(over)}. The extra column says whether Trainyard's time "
            "goes before the first epoch (request, dispatch, process start, dataset checks) "
            "or during and after training (reporting, checkpoint uploads, the final report)."
        )
    table.notes += errors
    return [table]
