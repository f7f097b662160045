"""Log streaming latency: a line printed by train.py until a Server-Sent Events client has it.

The benchmarks' ticker framework prints lines stamped with the time they were printed. Through
Trainyard a client follows GET /v1/jobs/{id}/logs/stream; the baseline is the same train.py run
by hand with its output read straight from a pipe. The gateway's store time of each line splits
Trainyard's figure into train.py -> gateway (reporter) and gateway -> client (the stream).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from bench import by_hand
from bench.jobs import JobStore, tiny_dataset, toy_spec
from bench.measure import ms, summary
from bench.report import Table
from bench.stack import Stack
from bench.ticker_framework.train import parse
from trainyard_client import Client

NAME = "logs"
TICKER_TRAIN = "bench.ticker_framework.train"
INTERVAL = 0.05  # seconds between two lines


def read_pipe(run_dir: Path, spec: dict, storage: Path) -> list[float]:
    """Latency of each line read from the process's stdout."""
    proc = by_hand.start(TICKER_TRAIN, run_dir, spec, storage)
    assert proc.stdout is not None
    latencies = []
    for line in proc.stdout:
        tick = parse(line)
        if tick:
            latencies.append(time.time() - tick[1])
    proc.wait()
    return latencies


def follow_stream(
    client: httpx.Client, url: str, job_id: str, seconds: float
) -> dict[int, tuple[float, float]]:
    """seq -> (printed, received by this client) for each ticker line, until `event: end`
    (or for at most `seconds`)."""
    seen: dict[int, tuple[float, float]] = {}
    event = ""
    deadline = time.time() + seconds
    with client.stream("GET", f"{url}/v1/jobs/{job_id}/logs/stream", timeout=30) as response:
        for line in response.iter_lines():
            now = time.time()
            if now > deadline:
                break
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
                if event == "end":
                    break
            elif line.startswith("data: ") and event == "log":
                data = json.loads(line.removeprefix("data: "))
                tick = parse(data["line"])
                if tick:
                    seen[data["seq"]] = (tick[1], now)
    return seen


def run(work: Path, quick: bool) -> list[Table]:
    lines = 40 if quick else 200
    spec = toy_spec(
        tiny_dataset(work / "dataset"), framework="ticker", lines=lines, interval=INTERVAL
    )
    with Stack(work / "stack") as stack, httpx.Client(timeout=60) as client:
        _, service = stack.ticker_service()
        gateway = stack.gateway(TRAINYARD_EXTRA_SERVICES=f"ticker={service}")
        pipe = read_pipe(work / "by-hand", spec, work / "storage")
        with Client(gateway.url) as api:
            job = api.create_job(spec)
            # The raw stream, not the client's follow_logs: each line is timed as it arrives.
            streamed = follow_stream(client, gateway.url, job.id, lines * INTERVAL + 60)
            api.wait(job.id, timeout=60)
        store = JobStore(gateway.database_url)
        try:
            stored = store.log_received(job.id)
        finally:
            store.close()
    to_gateway = [stored[seq] - printed for seq, (printed, _) in streamed.items()]
    to_client = [received - stored[seq] for seq, (_, received) in streamed.items()]
    total = [received - printed for printed, received in streamed.values()]
    table = Table(
        "Log streaming: a printed line to a Server-Sent Events client",
        f"{lines} lines, one every {INTERVAL * 1000:.0f} ms, stamped by train.py when printed. "
        "Baseline: the same train.py by hand, its stdout read from a pipe.",
        ["path", "lines", "p50", "p95", "p99"],
    )
    rows = (
        ("by hand: stdout pipe (baseline)", pipe),
        ("Trainyard: printed -> SSE client", total),
        ("of which printed -> stored by the gateway", to_gateway),
        ("of which stored -> SSE client", to_client),
    )
    for label, values in rows:
        s = summary(values)
        table.add(label, len(values), ms(s["p50"]), ms(s["p95"]), ms(s["p99"]))
    if len(streamed) != lines:
        table.notes.append(f"The stream delivered {len(streamed)} of {lines} lines.")
    table.notes += [
        "train.py's reporter sends a batch every 0.25 s and the stream polls the job store "
        "every 0.1 s (so several gateway workers serve it alike): both are waits by design.",
    ]
    if note := stack.error_note():
        table.notes.append(note)
    return [table]
