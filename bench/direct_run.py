"""Running one of the plain scripts under bench/direct/ and reading what it printed: the
by-hand side of every benchmark that sets a framework run by hand beside the same run through
Trainyard."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.direct.progress import PREFIX
from bench.stack import REPO, framework_python

DIRECT = REPO / "bench" / "direct"


@dataclass
class DirectRun:
    started: float  # unix time just before the script's process started
    reports: list[dict[str, Any]]  # its `BENCH {…}` lines, in order


def run_direct_script(
    framework: str,
    spec: dict[str, Any],
    out: Path,
    timeout: float,
    what: str,
    launcher: Sequence[str] = (),
    env: dict[str, str] | None = None,
    script: str | None = None,
) -> DirectRun:
    """Run `<framework env>/bin/python [launcher…] <framework>_direct.py SPEC OUT` in `out` (its
    output kept in output.log); `what` names the run in the error when it fails; `env` is added
    to this process's environment. `script`: another script under bench/direct/ in place of
    `<framework>_direct.py`."""
    out.mkdir(parents=True)
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec))
    argv = [
        str(framework_python(framework)),
        *launcher,
        str(DIRECT / (script or f"{framework}_direct.py")),
    ]
    started = time.time()
    proc = subprocess.run(
        [*argv, str(spec_path), str(out)],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    (out / "output.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    reports = [
        json.loads(line.removeprefix(PREFIX))
        for line in proc.stdout.splitlines()
        if line.startswith(PREFIX)
    ]
    return DirectRun(started, reports)
