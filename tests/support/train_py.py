"""Run a framework's train.py by hand, as a user would: no gateway, events on stderr."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from trainyard_dev.launcher import environment_python

REPO = Path(__file__).resolve().parents[2]


def run_train_py(
    framework: str,
    tmp: Path,
    job_id: str,
    job_spec: dict[str, Any],
    *,
    timeout: float = 180,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    module: str = "train",
) -> tuple[int, list[dict[str, Any]], str, float]:
    """Run `python -m trainyard_<framework>.<module>` (train, export…) with no CALLBACK_URL.

    Returns (exit code, the events it printed, its whole output, seconds).
    """
    started = time.monotonic()
    proc = subprocess.run(
        [str(environment_python(REPO, framework)), "-m", f"trainyard_{framework}.{module}"],
        cwd=cwd,
        env={
            **os.environ,
            "JOB_ID": job_id,
            "JOB_SPEC": json.dumps(job_spec),
            "STORAGE_URI": (tmp / "storage").as_uri(),
            "WORK_DIR": str(tmp / f"work-{job_id}"),
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    events = [
        json.loads(line.removeprefix("[trainyard] "))
        for line in proc.stderr.splitlines()
        if line.startswith("[trainyard] {")
    ]
    return proc.returncode, events, proc.stdout + proc.stderr, time.monotonic() - started


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def checkpoint(tmp: Path, job_id: str, name: str, project: str = "tests") -> Path:
    return tmp / "storage" / "checkpoints" / "projects" / project / "jobs" / job_id / name


# Early stopping that must end a 6-epoch run after epoch 3: the first epoch sets the best, and
# no later one can beat it by min_delta (a loss or an accuracy never moves by 10).
STALLING_EPOCHS = 6


def stalling(metric: str) -> dict[str, Any]:
    return {"metric": metric, "patience": 2, "min_delta": 10.0}


def assert_stopped_after_epoch_3(result: tuple[int, list[dict[str, Any]], str, float], metric: str):
    """The run succeeded, reported epochs 1-3 of 6 and says why it stopped."""
    code, events, output, _ = result
    assert code == 0, output
    statuses = of_type(events, "status")
    assert [s["state"] for s in statuses] == ["running", "succeeded"], output
    metrics = of_type(events, "metric")
    assert [m["epoch"] for m in metrics] == [1, 2, 3], output
    assert all(m["total_epochs"] == STALLING_EPOCHS for m in metrics)
    stopped = statuses[-1]["stopped_early"]
    assert (stopped["epoch"], stopped["best_epoch"]) == (3, 1), stopped
    assert metric in stopped["reason"] and "patience 2" in stopped["reason"], stopped


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
