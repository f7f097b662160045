"""Jobs on a real gateway, submitted and waited for through the Python client.

The helpers answer the job as the API's JSON (a dict), so that tests assert on the document
the gateway publishes; the client's own tests use its models directly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from trainyard_client import Client, ClientConfig, WaitTimeout


def toy_spec(dataset_dir: Path | str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "framework": "toy",
        "task": "classification",
        "model": "counter",
        "dataset": {"uri": str(dataset_dir), "format": "imagefolder"},
        "hyperparams": {"epochs": 3},
        "options": {},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def client(url: str, api_key: str | None = None) -> Client:
    """A client for a test gateway: no key unless given (never one from the environment)."""
    return Client(config=ClientConfig(url=url, api_key=api_key))


def submit(url: str, spec: dict[str, Any], *, api_key: str | None = None) -> dict[str, Any]:
    with client(url, api_key) as api:
        return api.create_job(spec).model_dump(mode="json")


def get_job(url: str, job_id: str, *, api_key: str | None = None) -> dict[str, Any]:
    with client(url, api_key) as api:
        return api.get_job(job_id).model_dump(mode="json")


def wait_for(
    url: str,
    job_id: str,
    states: Collection[str],
    timeout: float = 120,
    *,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Until the job is in one of `states`; a gateway restarting meanwhile is waited for."""
    with client(url, api_key) as api:
        try:
            job = api.wait(job_id, timeout, poll_interval=0.1, until=states)
        except WaitTimeout as late:
            raise AssertionError(
                f"job {job_id} never reached {sorted(states)}; last seen: {late.job}"
            ) from None
    return job.model_dump(mode="json")


def wait_for_epoch(url: str, job_id: str, epoch: int = 1, timeout: float = 60) -> dict[str, Any]:
    """Until the job has finished `epoch` (or a later one): for a fault injected mid-training."""
    deadline = time.monotonic() + timeout
    with client(url) as api:
        while (job := api.get_job(job_id)).progress.epoch is None or job.progress.epoch < epoch:
            assert time.monotonic() < deadline, f"job {job_id} never finished epoch {epoch}: {job}"
            time.sleep(0.05)
    return job.model_dump(mode="json")


def wait_until_checkpointed(url: str, job_id: str, epoch: int, timeout: float = 60) -> None:
    """Until the job reported `epoch` and stored its `last` checkpoint of that epoch."""
    checkpoint = hashlib.sha256(f"epoch {epoch}".encode()).hexdigest()  # the toy's content
    deadline = time.monotonic() + timeout
    with client(url) as api:
        while time.monotonic() < deadline:
            job = api.get_job(job_id)
            done = job.progress.epoch or 0
            assert done <= epoch, f"job {job_id} went past epoch {epoch} unseen: {job}"
            if done == epoch and any(a.sha256 == checkpoint for a in job.artifacts):
                return
            time.sleep(0.02)
    raise AssertionError(f"job {job_id} never checkpointed epoch {epoch}: {job}")


# Every state a job ends in.
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "lost"})


def log_lines(url: str, job_id: str, tail: int = 5000) -> list[str]:
    """The job's log as the gateway serves it, line by line."""
    with client(url) as api:
        return [line.line for line in api.logs(job_id, tail=tail).lines]


def metric_epochs(url: str, job_id: str) -> list[int]:
    """The epochs the job reported metrics for, in order."""
    with client(url) as api:
        return [epoch.epoch for epoch in api.metrics(job_id).epochs]
