"""Framework start latency: POST /v1/jobs to the first training step of a real framework.

A run's first seconds are mostly importing torch and its framework. Per framework the same
one-step job (one epoch of one batch, then validation) runs three ways: by hand (`python -m
trainyard_<framework>.train` in the framework's environment, as its service would start it),
through Trainyard with warm starts off (every run a fresh `python -m`), and with warm starts on
(forked from the service's warm runner). Each is timed to the first epoch metric: by hand until
it is read from the process's output, through Trainyard until the gateway stored it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench import by_hand
from bench.jobs import JobStore
from bench.measure import sec, summary
from bench.report import Table, progress
from bench.stack import INTERNAL_TOKEN, Stack, framework_python
from trainyard_client import Client
from trainyard_dev.launcher import SERVICES
from trainyard_dev.synthetic import make_classification, make_yolo

NAME = "framework-start"
TARGET = 2.0  # seconds, warm, p50
RUNS = 3  # per way and framework, after one run not counted (caches, page cache)
TIMEOUT = 300
CASES = (
    ("timm", "resnet18", "classification", 32),
    ("ultralytics", "yolo11n.yaml", "detection", 64),
    ("huggingface", "vit-tiny", "classification", 32),
)


def one_step_spec(framework: str, model: str, task: str, size: int, data: Path) -> dict[str, Any]:
    return {
        "framework": framework,
        "task": task,
        "model": model,
        "dataset": {
            "uri": str(data),
            "format": "yolo" if task == "detection" else "imagefolder",
        },
        # One batch holds the whole training split: the epoch is one step.
        "hyperparams": {"epochs": 1, "batch_size": 16, "image_size": size, "seed": 0},
        "resources": {"gpu": 0},
        "project": "bench",
    }


def by_hand_first_metric(
    framework: str, run_dir: Path, spec: dict[str, Any], storage: Path
) -> float:
    """Seconds from starting `python -m trainyard_<framework>.train` to reading its first
    metric event."""
    env = by_hand.run_environment(run_dir, spec, storage)
    started = time.time()
    proc = subprocess.Popen(
        [str(framework_python(framework)), "-m", f"trainyard_{framework}.train"],
        cwd=run_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    seen: float | None = None
    for line in proc.stderr:
        if (
            seen is None
            and line.startswith(by_hand.EVENT_PREFIX)
            and json.loads(line.removeprefix("[trainyard] "))["type"] == "metric"
        ):
            seen = time.time() - started
    proc.wait(timeout=TIMEOUT)
    if proc.returncode != 0 or seen is None:
        raise RuntimeError(f"{framework} by hand exited {proc.returncode} without a metric")
    return seen


def wait_warm_runner(service: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        warm = httpx.get(f"{service}/health", timeout=10).json().get("warm_runner") or {}
        if warm.get("ready"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the warm runner of {service} was not ready in {TIMEOUT} s")


def through_trainyard(
    work: Path, framework: str, spec: dict[str, Any], runs: int, warm: bool
) -> tuple[list[float], int]:
    """Seconds from POST to the stored first metric, per run; and how many ran warm."""
    env = {"WARM_STARTS": "1" if warm else "0"}
    var = {c.name: c.env_var for c in SERVICES}[framework]
    times: list[float] = []
    warm_runs = 0
    with Stack(work) as stack:
        _, service = stack.service(framework, **env)
        if warm:
            wait_warm_runner(service)
        gateway = stack.gateway(**{str(var): service})
        store = JobStore(gateway.database_url)
        try:
            with Client(gateway.url) as api, httpx.Client(timeout=30) as client:
                for i in range(runs + 1):
                    started = time.time()
                    job = api.create_job(spec)
                    done = api.wait(job.id, timeout=TIMEOUT, poll_interval=0.2)
                    if done.state != "succeeded":
                        raise RuntimeError(f"{framework} job {job.id} ended {done.state}")
                    first = store.first_stored(job.id)["metric"] - started
                    run = client.get(
                        f"{service}/v1/runs/{job.id}",
                        headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"},
                    ).json()
                    if i == 0:
                        continue
                    times.append(first)
                    warm_runs += bool(run.get("warm_start"))
        finally:
            store.close()
    return times, warm_runs


def run(work: Path, quick: bool) -> list[Table]:
    runs = 1 if quick else RUNS
    data = {
        "classification": make_classification(
            work / "shapes", train_per_class=4, val_per_class=2, size=32
        ),
        "detection": make_yolo(work / "shapes-yolo", train_images=8, val_images=4, size=64),
    }
    table = Table(
        "Framework start latency: POST /v1/jobs to the first training step",
        f"Per framework one job of one training step (all training images in one batch, then "
        f"validation), {runs} run(s) each way after one not counted. By hand: `python -m "
        "trainyard_<framework>.train` started until its first epoch metric is read from its "
        "output. Trainyard: POST sent until the gateway stored that metric, with the service's "
        "warm starts off (WARM_STARTS=0) and on.",
        [
            "framework (model)",
            "by hand p50",
            "Trainyard cold p50",
            "Trainyard warm p50",
            "warm - by hand",
            "runs forked warm",
        ],
    )
    missed: list[str] = []
    for framework, model, task, size in CASES:
        spec = one_step_spec(framework, model, task, size, data[task])
        progress(f"{framework}: by hand")
        hand = [
            by_hand_first_metric(framework, work / framework / f"hand-{i}", spec, work / "store")
            for i in range(runs + 1)
        ][1:]
        progress(f"{framework}: Trainyard, cold")
        cold, _ = through_trainyard(work / framework / "cold", framework, spec, runs, warm=False)
        progress(f"{framework}: Trainyard, warm")
        warm, warm_runs = through_trainyard(work / framework / "warm", framework, spec, runs, True)
        h, c, w = (summary(each)["p50"] for each in (hand, cold, warm))
        progress(f"{framework}: p50 by hand {h:.1f} s, cold {c:.1f} s, warm {w:.1f} s")
        if w > TARGET:
            missed.append(framework)
        table.add(
            f"{framework} ({model})",
            sec(h),
            sec(c),
            sec(w),
            sec(w - h),
            f"{warm_runs}/{len(warm)}",
        )
    table.notes += [
        f"Target: warm p50 <= {TARGET:.0f} s for each framework.",
        "What a warm runner imports is each plugin's `warm_imports`: torch, torchvision and "
        "the framework with the modules its train.py loads, except for ultralytics, which a "
        "run imports itself after pointing YOLO_CONFIG_DIR at its own folder.",
        "The one step includes building the model, loading the data and one validation pass.",
    ]
    if missed:
        table.notes.append(f"Over target: {', '.join(missed)}.")
    return [table]


if __name__ == "__main__":
    work = Path(os.environ.get("BENCH_WORK", "bench/.work/framework-start"))
    for each in run(work, quick=bool(os.environ.get("BENCH_QUICK"))):
        print(each.markdown())
