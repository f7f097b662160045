"""A gateway and toy service that hold one succeeded and one failed training job: what the
refusals of the after-training endpoints (export, evaluate, predict) are checked against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for
from tests.support.processes import Gateway, Processes


@dataclass
class FinishedJobs:
    gateway: Gateway
    succeeded: dict[str, Any]
    failed: dict[str, Any]


def finished_jobs(processes: Processes, folder: Path, **service_env: str) -> FinishedJobs:
    """Start a toy service (with `service_env`) and a gateway routing to it, train one toy job
    to success and one to failure on a tiny dataset in `folder`, and wait for both."""
    _, service_url = processes.toy_service(**service_env)
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    dataset = tiny_dataset(folder / "ds")
    succeeded = submit(gateway.url, toy_spec(dataset, hyperparams={"epochs": 1}))
    failed = submit(gateway.url, toy_spec(dataset, options={"fail_at_epoch": 1}))
    return FinishedJobs(
        gateway,
        wait_for(gateway.url, succeeded["id"], {"succeeded"}),
        wait_for(gateway.url, failed["id"], {"failed"}),
    )
