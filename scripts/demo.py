"""The demo `make run` plays: one small training job per framework, through the public API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trainyard_client import ApiError, Client, JobView
from trainyard_dev.synthetic import make_classification, make_yolo
from trainyard_wire.states import is_terminal


def demo_specs(data: Path) -> list[dict[str, Any]]:
    shapes = data / "shapes-classification"
    boxes = data / "shapes-detection"
    if not shapes.exists():
        make_classification(shapes, train_per_class=24, val_per_class=8, size=32)
    if not boxes.exists():
        make_yolo(boxes, "detection", train_images=32, val_images=8, size=64)
    classification = {"uri": str(shapes), "format": "imagefolder"}
    return [
        {
            "name": "demo resnet18 on shapes",
            "framework": "timm",
            "task": "classification",
            "model": "resnet18",
            "dataset": classification,
            "hyperparams": {
                "epochs": 3,
                "batch_size": 16,
                "image_size": 32,
                "learning_rate": 0.002,
            },
            "project": "demo",
        },
        {
            "name": "demo yolo11n detecting shapes",
            "framework": "ultralytics",
            "task": "detection",
            "model": "yolo11n.yaml",
            "dataset": {"uri": str(boxes), "format": "yolo"},
            "hyperparams": {"epochs": 2, "batch_size": 8, "image_size": 64},
            "project": "demo",
        },
        {
            "name": "demo small ViT on shapes",
            "framework": "huggingface",
            "task": "classification",
            "model": "vit",
            "dataset": classification,
            "hyperparams": {
                "epochs": 3,
                "batch_size": 16,
                "image_size": 32,
                "learning_rate": 0.001,
            },
            "options": {
                "config_overrides": {
                    "hidden_size": 64,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 2,
                    "intermediate_size": 128,
                    "patch_size": 8,
                }
            },
            "project": "demo",
        },
    ]


def _progress_line(job: JobView) -> str:
    progress = job.progress
    epoch = f"{progress.epoch or 0}/{progress.total_epochs}"
    shown = {k: v for k, v in (job.metrics or {}).items() if isinstance(v, float)}
    metrics = "  ".join(f"{k}={v:.3f}" for k, v in list(shown.items())[:4])
    return f"  [{job.framework:<11}] {job.state:<9} epoch {epoch:<5} {metrics}"


def run_demo(gateway: str, data: Path, api_key: str) -> int:
    print("\nDemo: one small job per framework on synthetic shapes")
    with Client(gateway, api_key) as client:
        jobs: list[JobView] = []
        for spec in demo_specs(data):
            try:
                jobs.append(client.create_job(spec))
            except ApiError as refused:
                print(f"  {spec['framework']}: refused: {refused.message}")
                return 1
            print(f"  submitted {jobs[-1].id}  {spec['framework']}/{spec['model']}")
        final = _follow(client, jobs)
    print("\nResults")
    failures = 0
    for job in jobs:
        done = final[job.id]
        print(f"  {done.framework:<12} {done.state:<9} in {_duration(done)}  ({done.id})")
        if done.state != "succeeded":
            failures += 1
            error = done.error or {}
            print(f"    error: {error.get('reason')}: {error.get('message')}")
            for tail in (error.get("log_tail") or [])[-5:]:
                print(f"      | {tail}")
            continue
        metrics = ", ".join(
            f"{k}={v:.4f}" for k, v in (done.metrics or {}).items() if v is not None
        )
        print(f"    metrics: {metrics}")
        for artifact in done.artifacts:
            print(f"    {artifact.name:<10} {artifact.size:>10} bytes  {artifact.uri}")
    return 1 if failures else 0


def _follow(client: Client, jobs: list[JobView]) -> dict[str, JobView]:
    """Every job until it ends, a line each time one's progress changes (all jobs at once, so
    not `client.wait` one after the other)."""
    seen: dict[str, str] = {}
    started = time.monotonic()
    final: dict[str, JobView] = {}
    while len(final) < len(jobs):
        for job in jobs:
            if job.id in final:
                continue
            current = client.get_job(job.id)
            line = _progress_line(current)
            if seen.get(job.id) != line:
                print(f"{time.monotonic() - started:6.1f}s {line}", flush=True)
                seen[job.id] = line
            if is_terminal(current.state):
                final[job.id] = current
        time.sleep(0.5)
    return final


def _duration(job: JobView) -> str:
    if job.finished_at is None:
        return "?"
    return f"{(job.finished_at - job.created_at).total_seconds():.1f}s"
