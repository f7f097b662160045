"""Runs of a framework's train.py that take pretrained weights through the three tiers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.support.hub_server import HubServer
from tests.support.train_py import of_type, run_train_py
from trainyard_dev.launcher import environment_python

REPO = Path(__file__).resolve().parents[2]


def in_env(framework: str, code: str, *args: str) -> None:
    """Run a snippet in the framework's own environment (the test process has no torch)."""
    subprocess.run(
        [str(environment_python(REPO, framework)), "-c", code, *args],
        check=True,
        timeout=300,
        capture_output=True,
    )


def weights_event(events: list[dict[str, Any]], output: str) -> dict[str, Any]:
    """The run's one weights event."""
    found = of_type(events, "weights")
    assert len(found) == 1, output
    return found[0]


def three_runs(
    tmp: Path, framework: str, job: dict[str, Any], hub: HubServer, extra_env: dict[str, str]
) -> list[dict[str, Any]]:
    """Job 1 from the hub, job 2 from storage (hub stopped), job 3 from the local cache."""

    def run(job_id: str, cache: str) -> dict[str, Any]:
        env = {"WEIGHTS_CACHE_DIR": str(tmp / cache), **extra_env}
        code, events, output, seconds = run_train_py(
            framework, tmp, job_id, job, timeout=300, env=env
        )
        print(f"{framework} {job_id}: {seconds:.1f}s")
        assert code == 0, output
        assert of_type(events, "status")[-1]["state"] == "succeeded", output
        return weights_event(events, output)

    first = run("job-hub", "cache-a")
    hub.stop()
    second = run("job-storage", "cache-b")
    third = run("job-cache", "cache-b")
    return [first, second, third]


def assert_tiers(tmp: Path, framework: str, model_dir: str, events: list[dict[str, Any]]) -> None:
    assert [e["tier"] for e in events] == ["source", "storage", "cache"]
    assert len({e["sha256"] for e in events}) == 1 and len({e["size"] for e in events}) == 1
    stored = tmp / "storage" / "models" / "pretrained" / framework / model_dir
    assert (stored / "manifest.json").is_file()
    assert events[0]["published"] == stored.as_uri()
