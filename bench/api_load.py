"""API under load: GET /v1/jobs/{id} and GET /v1/jobs?limit=50 with 100,000 jobs stored.

The jobs are bulk-inserted with SQLAlchemy core into a migrated job store (finished jobs of
three frameworks, two checkpoint events per succeeded job, also kept on the job's row as their
ingest keeps them; as the API shows them). The gateway runs with its production server
(`python -m trainyard_gateway.serve`, 2 workers); a load generator in its own process keeps N
connections busy for a fixed time. Ceiling: a bare FastAPI
endpoint answering a constant under the same server.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.loadgen import generate
from bench.measure import ms
from bench.report import Table, progress
from bench.stack import Stack
from trainyard_gateway.db import make_engine, migrate
from trainyard_gateway.job_queries import artifacts_from_events
from trainyard_gateway.models import Job, JobEvent, utcnow

NAME = "api"
WORKERS = "2"
CONCURRENCY = 32
CHUNK = 5_000
SAMPLE = 2_000  # jobs asked for in the main case: each worker keeps all of their answers
FRAMEWORKS = (("timm", "resnet18"), ("ultralytics", "yolo11n.yaml"), ("huggingface", "vit-tiny"))


def job_rows(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` finished jobs, one a second up to now, and the checkpoint events of those that
    succeeded."""
    now = utcnow()
    jobs, events = [], []
    for i in range(count):
        framework, model = FRAMEWORKS[i % len(FRAMEWORKS)]
        job_id = f"job-{uuid.uuid4().hex[:16]}"
        created = now - timedelta(seconds=count - i)
        roll = i % 20
        state = "failed" if roll < 3 else "cancelled" if roll == 3 else "succeeded"
        spec = {
            "framework": framework,
            "task": "classification",
            "model": model,
            "dataset": {"uri": f"ds-{i % 200:08d}", "format": "imagefolder"},
            "hyperparams": {
                "epochs": 10,
                "batch_size": 16,
                "learning_rate": 0.001,
                "image_size": 224,
                "optimizer": "adamw",
                "seed": 0,
            },
            "options": {},
            "resources": {"cpu": 1, "memory": "2Gi"},
            "project": f"project-{i % 50}",
        }
        jobs.append(
            {
                "id": job_id,
                "framework": framework,
                "task": "classification",
                "model": model,
                "project": spec["project"],
                "priority": 0,
                "spec": spec,
                "state": state,
                "created_at": created,
                "updated_at": created + timedelta(minutes=10),
                "started_at": created + timedelta(seconds=2),
                "finished_at": created + timedelta(minutes=10),
                "last_event_at": created + timedelta(minutes=10),
                "epoch": 10 if state == "succeeded" else 4,
                "total_epochs": 10,
                "eta_seconds": 0.0,
                "metrics": {"train_loss": 0.31, "val_loss": 0.42, "top1": 0.88, "top5": 0.99},
                "error": None
                if state == "succeeded"
                else {"reason": "exception", "message": "boom"},
                "service_url": "http://127.0.0.1:8001",
                "run_id": job_id,
                "cancel_requested": state == "cancelled",
                "artifacts": None,
            }
        )
        if state == "succeeded":
            for seq, name in ((100, "best.pt"), (101, "last.pt")):
                events.append(
                    {
                        "job_id": job_id,
                        "seq": seq,
                        "type": "artifact",
                        "time": created + timedelta(minutes=10),
                        "received_at": created + timedelta(minutes=10),
                        "data": {
                            "name": name,
                            "kind": "checkpoint",
                            "size": 46_000_000,
                            "uri": f"file:///storage/checkpoints/{job_id}/{name}",
                            "sha256": "0" * 64,
                        },
                    }
                )
            # As the ingest of those events keeps them on the job's row.
            jobs[-1]["artifacts"] = artifacts_from_events(
                job_id, [(e["time"], e["data"]) for e in events[-2:]]
            )
    return jobs, events


def fill(database_url: str, count: int) -> list[str]:
    """Migrate the job store and bulk-insert the jobs; returns their ids."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        jobs, events = job_rows(count)
        with engine.begin() as conn:
            for table, rows in ((Job.__table__, jobs), (JobEvent.__table__, events)):
                for start in range(0, len(rows), CHUNK):
                    conn.execute(insert(table), rows[start : start + CHUNK])
    finally:
        engine.dispose()
    return [job["id"] for job in jobs]


def load(url: str, paths: list[str], duration: float, work: Path, name: str) -> dict[str, Any]:
    cfg = {
        "mode": "get",
        "base_url": url,
        "concurrency": CONCURRENCY,
        "paths": paths,
        "duration": duration,
        "warmup": 1.0,
    }
    return generate(cfg, work, name)


def run(work: Path, quick: bool) -> list[Table]:
    count = 5_000 if quick else 100_000
    duration = 3.0 if quick else 10.0
    work.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{work / 'jobs.db'}"
    ids = fill(database_url, count)
    progress(f"{count:,} jobs stored")
    sample = [f"/v1/jobs/{job_id}" for job_id in random.Random(0).sample(ids, SAMPLE)]
    cases = (
        ("one", f"GET /v1/jobs/{{id}} (random of {SAMPLE:,}: kept after a first read)", sample),
        (
            "one-unkept",
            f"GET /v1/jobs/{{id}} (random of all {count:,}: mostly read for the first time)",
            [f"/v1/jobs/{job_id}" for job_id in ids],
        ),
        ("list", "GET /v1/jobs?limit=50", ["/v1/jobs?limit=50"]),
    )
    results = []
    with Stack(work / "stack") as stack:
        gateway = stack.gateway(production=True, GATEWAY_WORKERS=WORKERS, DATABASE_URL=database_url)
        for name, label, paths in cases:
            results.append((label, load(gateway.url, paths, duration, work, name)))
        errors = stack.error_note()
        stack.stop_all()  # the ceiling gets the machine to itself too
        url = stack.ceiling(GATEWAY_WORKERS=WORKERS)
        top = load(url, ["/constant"], duration, work, "ceiling")
    table = Table(
        f"API under load: {count:,} jobs stored",
        f"{CONCURRENCY} concurrent connections from a load generator process (asyncio, aiohttp), "
        f"{duration:.0f} s per case after a 1 s warm-up; SQLite job store; production server "
        f"with {WORKERS} workers. Ceiling: a bare FastAPI endpoint returning a constant under "
        "the same server and load.",
        [
            "endpoint",
            "requests/s",
            "p50",
            "p99",
            "ceiling requests/s",
            "share of ceiling",
            "errors",
        ],
    )
    top_rate = top["requests"] / top["seconds"]
    for label, result in [*results, ("ceiling: GET /constant (bare FastAPI)", top)]:
        rate = result["requests"] / result["seconds"]
        table.add(
            label,
            f"{rate:,.0f}",
            ms(result["latency"]["p50"]),
            ms(result["latency"]["p99"]),
            f"{top_rate:,.0f}",
            f"{rate / top_rate:.2f}",
            result["errors"],
        )
    table.notes.append(
        "The load generator shares the 2 cores with the server: the ceiling row is what this "
        "harness can drive at all."
    )
    table.notes.append(
        "A job's answer is kept encoded per worker (4,096 each) under the row's version: a kept "
        "one costs a read of four small columns, one not kept the whole row and building its "
        "view. The target (share >= 0.5 for one job, >= 0.25 for the listing) is read on the "
        "first row; the second shows the cost where almost no answer is kept."
    )
    if errors:
        table.notes.append(errors)
    return [table]
