"""Dispatch throughput: many toy jobs submitted at once against a service of capacity N.

Jobs/s submitted, started (`running` stored) and completed, and the scheduler's overhead per job:
the time Trainyard took for all of them minus the time the runs themselves need at that
capacity, measured in the same run by starting the same toy train.py by hand, N at a time.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench import by_hand
from bench.jobs import JobStore, tiny_dataset, toy_spec
from bench.measure import ms
from bench.report import Table, progress
from bench.stack import Stack
from trainyard_wire.states import TERMINAL

NAME = "dispatch"
# One capacity: 1,000 toy runs are ~1,000 Python processes, minutes of CPU on 2 cores.
CAPACITIES = (8,)
TOY_TRAIN = "toy_framework.train"
SUBMITTERS = 16
JOBS = 1000
# Bounds a stalled POST (the suite must end in time); it counts as not accepted.
POST_TIMEOUT = 15.0


def by_hand_rate(work: Path, spec: dict, capacity: int, runs: int) -> float:
    """Runs per second of the toy train.py started by hand, `capacity` at a time."""
    dirs = [work / f"hand-{i}" for i in range(runs)]
    started = time.monotonic()
    with ThreadPoolExecutor(capacity) as pool:
        list(pool.map(lambda d: by_hand.run_to_end(TOY_TRAIN, d, spec, work / "storage"), dirs))
    return runs / (time.monotonic() - started)


def wait_all(store: JobStore, count: int, deadline: float) -> tuple[list[tuple], bool]:
    """The jobs' times once all `count` ended, or as they are at the deadline (and False)."""
    while True:
        times = store.job_times()
        if len(times) >= count and all(state in TERMINAL for state, *_ in times):
            return times, True
        if time.monotonic() >= deadline:
            return times, False
        time.sleep(0.5)


def post(client: httpx.Client, url: str, spec: dict, deadline: float) -> str:
    """POST /v1/jobs; the answer's status, or the error that kept it from answering."""
    if time.monotonic() >= deadline:
        return "not sent in time"
    try:
        return str(client.post(f"{url}/v1/jobs", json=spec).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__


def through_trainyard(work: Path, spec: dict, capacity: int, count: int, limit: float) -> dict:
    """Submit `count` jobs at once and follow them for at most `limit` seconds."""
    deadline = time.monotonic() + limit
    with Stack(work / "stack") as stack, httpx.Client(timeout=POST_TIMEOUT) as client:
        _, service = stack.toy_service(MAX_CONCURRENT_RUNS=str(capacity))
        gateway = stack.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service}")
        store = JobStore(gateway.database_url)
        try:
            started = time.time()
            with ThreadPoolExecutor(SUBMITTERS) as pool:
                answers = Counter(
                    pool.map(lambda _: post(client, gateway.url, spec, deadline), range(count))
                )
            submitted = time.time() - started
            times, finished = wait_all(store, answers["201"], deadline)
        finally:
            store.close()
        errors = stack.error_note(f"N={capacity}: ")
    outcome = Counter(state for state, *_ in times)
    outcome.update(
        {f"not accepted ({answer})": n for answer, n in answers.items() if answer != "201"}
    )
    starts = [s for _, _, s, _ in times if s]
    ends = [f for state, _, _, f in times if f and state in TERMINAL]
    return {
        "accepted": answers["201"],
        "submitted": submitted,
        "started": (len(starts), max(starts, default=math.nan) - started),
        "ended": (len(ends), max(ends, default=math.nan) - started),
        "finished": finished,
        "outcome": outcome,
        "errors": errors,
    }


def run(work: Path, quick: bool, jobs: int = JOBS) -> list[Table]:
    count = 20 if quick else jobs
    baseline = 8 if quick else 48
    limit = 15 + count * 0.5
    spec = toy_spec(tiny_dataset(work / "dataset"), epochs=1, epoch_seconds=0.01)
    table = Table(
        f"Dispatch throughput: {count} jobs submitted at once",
        f"{count} toy jobs (1 epoch of 10 ms) posted by {SUBMITTERS} concurrent clients to one "
        "gateway (the one-process server, default settings, SQLite) routing to a toy service "
        "that runs N at a time; followed for at most "
        f"{limit:.0f} s. Started/s and completed/s count from the first POST. Baseline: the "
        f"same toy train.py started by hand N at a time ({baseline} runs), the time the runs "
        "themselves need.",
        [
            "capacity N",
            "submitted/s",
            "started/s",
            "completed/s",
            "by hand runs/s",
            "all done: Trainyard / by hand",
            "scheduler overhead per job",
            "outcome",
        ],
    )
    for capacity in CAPACITIES:
        folder = work / f"capacity-{capacity}"
        hand = by_hand_rate(folder, spec, capacity, baseline)
        progress(f"N={capacity}: by hand {hand:.2f} runs/s; submitting {count} jobs")
        ours = through_trainyard(folder, spec, capacity, count, limit)
        (started, started_in), (ended, ended_in) = ours["started"], ours["ended"]
        work_needed = ours["accepted"] / hand
        if ours["finished"]:
            done = f"{ended_in:.1f} s / {work_needed:.1f} s"
            overhead = ms((ended_in - work_needed) / max(ours["accepted"], 1))
        else:
            done = f"not done after {limit:.0f} s / {work_needed:.1f} s"
            overhead = "n/a"
        outcome = ", ".join(f"{n} {state}" for state, n in ours["outcome"].most_common())
        table.add(
            capacity,
            f"{count / ours['submitted']:.1f}",
            f"{started / started_in:.2f}" if started else "0",
            f"{ended / ended_in:.2f}" if ended else "0",
            f"{hand:.2f}",
            done,
            overhead,
            outcome,
        )
        if ours["errors"]:
            table.notes.append(ours["errors"])
    return [table]
