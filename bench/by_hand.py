"""Running a framework's train.py by hand, as its service would but with nothing around it:
the same interpreter and environment, no callback URL (events print to stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.stack import REPO, TESTS

EVENT_PREFIX = "[trainyard] {"


def run_environment(run_dir: Path, spec: dict[str, Any], storage: Path) -> dict[str, str]:
    """What a service's executor gives a run, minus the callback URL and token."""
    (run_dir / "work").mkdir(parents=True, exist_ok=True)
    spec_path = run_dir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    return {
        **os.environ,
        "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}",
        "JOB_ID": run_dir.name,
        "JOB_SPEC_PATH": str(spec_path),
        "WORK_DIR": str(run_dir / "work"),
        "STORAGE_URI": storage.as_uri(),
        "PYTHONUNBUFFERED": "1",
    }


def start(module: str, run_dir: Path, spec: dict[str, Any], storage: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=run_dir,
        env=run_environment(run_dir, spec, storage),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def first_events(module: str, run_dir: Path, spec: dict[str, Any], storage: Path):
    """Seconds from starting the process to reading its `running` status and first metric."""
    started = time.time()
    proc = start(module, run_dir, spec, storage)
    assert proc.stderr is not None
    seen: dict[str, float] = {}
    for line in proc.stderr:
        if not line.startswith(EVENT_PREFIX):
            continue
        event = json.loads(line.removeprefix("[trainyard] "))
        key = "running" if event.get("state") == "running" else event["type"]
        seen.setdefault(key, time.time() - started)
    proc.wait()
    if proc.returncode != 0 or "metric" not in seen:
        raise RuntimeError(f"{module} by hand exited {proc.returncode}; saw {sorted(seen)}")
    return seen


def run_to_end(module: str, run_dir: Path, spec: dict[str, Any], storage: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module],
        cwd=run_dir,
        env=run_environment(run_dir, spec, storage),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} by hand exited {proc.returncode}: {proc.stderr[-2000:]!r}")
