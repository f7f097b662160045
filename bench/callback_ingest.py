"""Callback ingestion: events per second the gateway stores from 50 concurrent reporters.

The jobs are real: toy jobs submitted through the API, dispatched, running on the toy service
(sleeping through long epochs, sending their heartbeats) with the callback tokens the dispatcher
issued, while the dispatcher follows them. The toy's `write_token` option leaves each run's
token in its work folder, where the benchmark reads it; nothing is written into the database
behind the gateway's back. Each reporter then posts batches to its own job's callback endpoint
with that token, numbered on after the run's own events. Ceiling: the same batches
acknowledged unstored by a bare app under the same server.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from bench.jobs import tiny_dataset, toy_spec
from bench.loadgen import batch, generate
from bench.measure import ms
from bench.report import Table, progress
from bench.stack import Stack, free_port, postgres
from trainyard_client import Client, ClientConfig, TrainyardError
from trainyard_gateway.db import Database, migrate
from trainyard_gateway.event_ingest import ingest
from trainyard_gateway.models import Job, utcnow
from trainyard_wire.events import EventBatch

NAME = "ingest"
BATCHES = (10, 100)
WORKERS = "2"
TARGET = 5_000
SETUP_SECONDS = 30  # for the runs to start


def start_running_jobs(
    stack: Stack, work: Path, count: int, database_url: str | None
) -> tuple[str, list[dict[str, str]]]:
    """A production gateway with `count` toy jobs running; its URL and each job's token.

    The jobs are queued before the service starts (accepted, to be checked at dispatch), and
    the dispatcher starts them all once it is up: no submission overlaps the runs' callbacks.
    """
    port = free_port()
    database = {"DATABASE_URL": database_url} if database_url else {}
    gateway = stack.gateway(
        production=True,
        GATEWAY_WORKERS=WORKERS,
        TRAINYARD_EXTRA_SERVICES=f"toy=http://127.0.0.1:{port}",
        **database,
    )
    spec = toy_spec(
        tiny_dataset(work / "dataset"),
        epochs=5,
        epoch_seconds=60,
        lines_per_epoch=0,
        write_token=True,
    )
    with Client(gateway.url) as api:
        ids = [api.create_job(spec).id for _ in range(count)]
    service_proc, _ = stack.toy_service(
        port=port, MAX_CONCURRENT_RUNS=str(count), STOP_GRACE_SECONDS="2"
    )
    # A run writes its token once its train() runs; wait for all, or as many as start in time.
    runs = Path(service_proc.env["TRAINYARD_DATA_DIR"]) / "services" / "toy" / "runs"
    tokens = {job_id: runs / job_id / "work" / "token" for job_id in ids}
    deadline = time.monotonic() + SETUP_SECONDS
    while not all(t.exists() for t in tokens.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.2)  # a token file seen is one being written: let it finish
    reporters = [
        {"job_id": job_id, "token": token.read_text()}
        for job_id, token in tokens.items()
        if token.exists()
    ]
    return gateway.url, reporters


def end_jobs(url: str, reporters: list[dict[str, str]]) -> None:
    """Cancel the jobs through the API, as far as it answers within 10 s (the stack kills any
    run that outlives this)."""
    deadline = time.monotonic() + 10
    with Client(config=ClientConfig(url=url, timeout=2, retries=0)) as api:
        for job in reporters:
            if time.monotonic() >= deadline:
                return
            with contextlib.suppress(TrainyardError):
                api.cancel_job(job["job_id"])
        for job in reporters:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with contextlib.suppress(TrainyardError):
                api.wait(job["job_id"], timeout=left, poll_interval=0.2, reconnect_timeout=left)


def storing_alone(database_url: str, size: int, seconds: float) -> float:
    """Events/s of the callback's storing step by itself: one process, one thread, no HTTP.

    The same parsing and `ingest()` the endpoint runs, on a job of its own in a database of
    its own; what HTTP and the server add is the difference to the endpoint's figure.
    """
    db = Database(database_url)
    job_id = f"job-storing-alone-{size}"
    try:
        migrate(db.engine)
        with db.write() as session:
            now = utcnow()
            session.add(
                Job(
                    id=job_id,
                    framework="toy",
                    task="classification",
                    model="counter",
                    project="bench",
                    spec={},
                    state="running",
                    created_at=now,
                    updated_at=now,
                )
            )
        stored, number = 0, 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            parsed = EventBatch.model_validate(batch(1 + number * size, size, number))
            with db.write() as session:
                job = session.get(Job, job_id, with_for_update=True)
                assert job is not None
                stored += ingest(session, job, parsed.events).stored
            number += 1
        return stored / (time.perf_counter() - started)
    finally:
        db.engine.dispose()


def load(
    url: str,
    reporters: list[dict[str, str]],
    size: int,
    first_seq: int,
    duration: float,
    work: Path,
    name: str,
) -> dict[str, Any]:
    cfg = {
        "mode": "events",
        "base_url": url,
        "concurrency": len(reporters),
        "reporters": reporters,
        "batch": size,
        "first_seq": first_seq,
        "duration": duration,
        "warmup": 1.0,
    }
    return generate(cfg, work, name)


def run(work: Path, quick: bool) -> list[Table]:
    count = 10 if quick else 50
    duration = 3.0 if quick else 8.0
    work.mkdir(parents=True, exist_ok=True)
    ceiling: dict[int, dict[str, Any]] = {}
    with Stack(work / "ceiling") as stack:
        url = stack.ceiling(GATEWAY_WORKERS=WORKERS)
        progress("ceiling: bare app up")
        fake = [{"job_id": f"job-{i:016x}", "token": "unused"} for i in range(count)]
        for size in BATCHES:
            ceiling[size] = load(url, fake, size, 1, duration, work, f"ceiling-{size}")
    measured: list[tuple[str, int, dict[str, Any], float]] = []
    errors: list[str] = []
    with postgres(work / "postgres") as server:
        scratch = {
            "SQLite": f"sqlite:///{work / 'storing-alone.db'}",
            "PostgreSQL": server.new_database(),
        }
        for name, database_url in (("SQLite", None), ("PostgreSQL", server.new_database())):
            alone = {b: storing_alone(scratch[name], b, duration / 3) for b in BATCHES}
            progress(f"{name}: storing alone measured; starting {count} runs")
            with Stack(work / name) as stack:
                url, reporters = start_running_jobs(stack, work, count, database_url)
                progress(f"{name}: {len(reporters)} runs reporting; load")
                if len(reporters) < count:
                    errors.append(
                        f"{name}: {len(reporters)} of {count} runs started within "
                        f"{SETUP_SECONDS} s; the load ran with those."
                    )
                try:
                    for k, size in enumerate(BATCHES if reporters else (), start=1):
                        result = load(
                            url, reporters, size, k * 10_000_000, duration, work, f"{name}-{size}"
                        )
                        measured.append((name, size, result, alone[size]))
                finally:
                    end_jobs(url, reporters)
                    if note := stack.error_note(f"{name}: "):
                        errors.append(note)
    table = Table(
        f"Callback ingestion: {count} concurrent reporters",
        f"Each of {count} running jobs' reporter posts event batches (a heartbeat, log lines, "
        "now and then a metric) to POST /internal/v1/jobs/{id}/events with its job's token, "
        f"for {duration:.0f} s after a 1 s warm-up; events/s counts what the gateway "
        f"acknowledged as stored. Production server, {WORKERS} workers. Ceiling: the same "
        "batches parsed and acknowledged, not stored, by a bare app under the same server. "
        "Storing alone: the endpoint's parsing and storing step called in one process and "
        "thread, without HTTP.",
        [
            "database",
            "events per batch",
            "stored events/s",
            "ack p50",
            "ack p99",
            "ceiling events/s",
            "share of ceiling",
            "storing alone events/s",
            "errors",
        ],
    )
    for name, size, result, alone in measured:
        top = ceiling[size]
        ours_rate = result["units"] / result["seconds"]
        top_rate = top["units"] / top["seconds"]
        table.add(
            name,
            size,
            f"{ours_rate:,.0f}",
            ms(result["latency"]["p50"]),
            ms(result["latency"]["p99"]),
            f"{top_rate:,.0f}",
            f"{ours_rate / top_rate:.2f}" if top_rate else "n/a",
            f"{alone:,.0f}",
            result["errors"],
        )
    refused = [s for _, _, r, _ in measured for s in r["error_samples"]]
    if refused:
        table.notes.append(f"First refused batch: {refused[0]}")
    table.notes += errors
    table.notes.append(
        f"Target: >= {TARGET:,} events/s on 2 cores. The load generator shares the 2 cores "
        "with the gateway and the database."
    )
    table.notes.append(
        "train.py's reporter sends what it gathered every 0.25 s, up to 200 events a batch: a "
        "run that logs fast sends large batches, a quiet one small ones. With small batches "
        "the figure is requests/s, each one a committed transaction (on PostgreSQL a WAL flush "
        "to disk)."
    )
    best = max(result["units"] / result["seconds"] for _, _, result, _ in measured)
    if best < TARGET:
        fastest_alone = max(alone for *_, alone in measured)
        # With one worker per core, storing could at most run this many times side by side.
        at_most = fastest_alone * int(WORKERS)
        where = (
            "the storing step itself (parsing, the insert, the job update) is the limit"
            if at_most < TARGET
            else "storing could keep up: the limit is around it (HTTP, the server, the "
            "database under concurrent writers)"
        )
        table.notes.append(
            f"Below target: at best {best:,.0f} events/s. Storing alone does "
            f"{fastest_alone:,.0f} events/s on one thread (at most ~{at_most:,.0f} on "
            f"{WORKERS} workers), so {where}."
        )
    return [table]
