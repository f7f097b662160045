"""Load generator: N concurrent asyncio connections for a fixed time, in its own process.

aiohttp, not httpx: httpx's async connection pool is the bottleneck past a few connections
(against the bare endpoint of `bench.ceiling` on 2 cores: about 95 requests/s with 32
connections, where aiohttp does about 1,000), so with it this would measure the client.

`python -m bench.loadgen CONFIG.json` prints one JSON object: requests completed in the measured
window (after a warm-up), errors, and the latency distribution. Modes:

- `get`: GET a random one of `paths` per request;
- `events`: each connection is one reporter posting event batches to its own job's callback
  endpoint with that job's token, numbered on from `first_seq` as train.py's reporter does.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.measure import summary

REPO = Path(__file__).resolve().parents[1]
GRACE = 5.0  # seconds after the window for requests sent in it to be answered
LOG_LINE = "step {n:>6} loss=0.4182 lr=0.00100 imgs/s=812.3 data=0.004s fwd=0.021s bwd=0.043s"


class Window:
    """Counts what completes between the end of the warm-up and the deadline."""

    def __init__(self, warmup: float, duration: float) -> None:
        now = time.perf_counter()
        self.warmup = warmup
        self.opens = now + warmup
        self.closes = self.opens + duration
        self.latencies: list[float] = []
        self.units = 0  # events stored (events mode) or requests (get mode)
        self.errors = 0
        self.error_samples: list[str] = []
        self.in_flight = 0  # requests sent in the window and not answered yet

    def counts(self, started: float) -> bool:
        return self.opens <= started < self.closes

    def begin(self) -> float:
        started = time.perf_counter()
        if self.counts(started):
            self.in_flight += 1
        return started

    def record(self, started: float, ok: bool, units: int, detail: str = "") -> None:
        if not self.counts(started):
            return
        self.in_flight -= 1
        if ok:
            self.latencies.append(time.perf_counter() - started)
            self.units += units
        else:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(detail[:300])


def batch(first_seq: int, size: int, number: int) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    events: list[dict[str, Any]] = [{"seq": first_seq, "type": "heartbeat", "time": now}]
    for i in range(1, size):
        line = LOG_LINE.format(n=first_seq + i)
        events.append({"seq": first_seq + i, "type": "log", "time": now, "line": line})
    if number % 20 == 19 and size > 1:  # now and then an epoch ends
        events[-1] = {
            "seq": first_seq + size - 1,
            "type": "metric",
            "time": now,
            "epoch": number // 20 + 1,
            "total_epochs": 1000,
            "metrics": {"train_loss": 0.42, "val_loss": 0.47, "top1": 0.81},
        }
    return {"events": events}


async def reporter(
    client: aiohttp.ClientSession, window: Window, job: dict[str, str], cfg: dict[str, Any]
) -> None:
    url = f"/internal/v1/jobs/{job['job_id']}/events"
    headers = {"Authorization": f"Bearer {job['token']}"}
    seq, number, size = cfg["first_seq"], 0, cfg["batch"]
    while time.perf_counter() < window.closes:
        body = batch(seq, size, number)
        started = window.begin()
        try:
            async with client.post(url, json=body, headers=headers) as response:
                text = await response.text()
            ok = response.status == 200
            stored = json.loads(text).get("stored", 0) if ok else 0
            window.record(started, ok and stored == size, stored, text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            window.record(started, False, 0, repr(exc))
        seq, number = seq + size, number + 1


async def getter(
    client: aiohttp.ClientSession, window: Window, paths: list[str], delay: float
) -> None:
    await asyncio.sleep(delay)
    while time.perf_counter() < window.closes:
        path = random.choice(paths)
        started = window.begin()
        try:
            async with client.get(path) as response:
                text = await response.text()
            window.record(started, response.status == 200, 1, text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            window.record(started, False, 0, repr(exc))


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=cfg["concurrency"])
    async with aiohttp.ClientSession(cfg["base_url"], connector=connector) as client:
        window = Window(cfg.get("warmup", 1.0), cfg["duration"])
        if cfg["mode"] == "events":
            # One connection per reporter: two posting the same job would reuse its seqs.
            work = [reporter(client, window, job, cfg) for job in cfg["reporters"]]
        else:
            # Connections opened one after another during the warm-up: opened all at once, one
            # server worker's accept loop takes most of them (asyncio accepts all it finds
            # waiting), and the run measures one worker of two.
            gap = window.warmup / 2 / cfg["concurrency"]
            work = [
                getter(client, window, cfg["paths"], i * gap) for i in range(cfg["concurrency"])
            ]
        tasks = [asyncio.create_task(w) for w in work]
        # Bounded: what has no answer a little after the window closes counts as an error.
        _, late = await asyncio.wait(tasks, timeout=window.closes + GRACE - time.perf_counter())
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    if window.in_flight:
        window.errors += window.in_flight
        window.error_samples.append(
            f"{window.in_flight} requests unanswered {GRACE:.0f} s after the window closed"
        )
    return {
        "units": window.units,
        "requests": len(window.latencies),
        "errors": window.errors,
        "error_samples": window.error_samples,
        "seconds": cfg["duration"],
        "latency": summary(window.latencies),
    }


def generate(cfg: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    """Run the load generator in a process of its own; its result."""
    path = work / f"loadgen-{name}.json"
    path.write_text(json.dumps(cfg))
    timeout = cfg.get("warmup", 1.0) + cfg["duration"] + GRACE + 60
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(asyncio.run(run(cfg))))


if __name__ == "__main__":
    main()
