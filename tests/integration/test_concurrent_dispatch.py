"""Two gateways on one job store: every job is started exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for
from tests.support.processes import INTERNAL_TOKEN

JOBS = 12


def test_two_gateways_never_start_a_job_twice(tmp_path, processes):
    _, service_url = processes.toy_service(MAX_CONCURRENT_RUNS=str(JOBS))
    fast = {"TRAINYARD_EXTRA_SERVICES": f"toy={service_url}", "DISPATCH_INTERVAL": "0.05"}
    first = processes.gateway(**fast)
    second = processes.gateway(**fast, DATABASE_URL=first.database_url)
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 1})
    gateways = [first.url, second.url]
    with ThreadPoolExecutor(4) as pool:
        jobs = list(pool.map(lambda i: submit(gateways[i % 2], spec), range(JOBS)))
    for i, job in enumerate(jobs):
        done = wait_for(gateways[(i + 1) % 2], job["id"], {"succeeded", "failed"}, timeout=180)
        assert done["state"] == "succeeded", done

    headers = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
    runs = httpx.get(f"{service_url}/v1/runs", headers=headers).json()
    assert sorted(run["run_id"] for run in runs) == sorted(job["id"] for job in jobs)
    # The gateways follow their runs with one call per service: a lookup by run id.
    some = sorted(job["id"] for job in jobs[:3])
    lookup = {"run_ids": [*some, "job-unknown"]}
    named = httpx.post(f"{service_url}/v1/run-lookup", json=lookup, headers=headers).json()
    assert sorted(run["run_id"] for run in named) == some
