"""A job's life through the real gateway and a real (toy) training service."""

from __future__ import annotations

import hashlib

import httpx

from platform_helpers import submit, tiny_dataset, toy_spec, wait_for


def test_job_trains_to_success_with_metrics_logs_and_checkpoints(tmp_path, processes):
    _, service_url = processes.toy_service()
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    created = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds")))
    assert created["state"] == "queued"
    job = wait_for(gateway.url, created["id"], {"succeeded", "failed"}, timeout=60)
    assert job["state"] == "succeeded", job
    assert job["progress"] == {"epoch": 3, "total_epochs": 3, "percent": 100.0, "eta_seconds": 0.0}
    assert job["metrics"]["loss"] == 0.125
    assert job["started_at"] and job["finished_at"]

    metrics = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/metrics").json()
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    assert metrics["series"]["loss"] == [[1, 0.5], [2, 0.25], [3, 0.125]]

    logs = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/logs", params={"tail": 2}).json()
    assert [line["line"] for line in logs["lines"]] == ["epoch 3 step 0", "epoch 3 step 1"]

    artifacts = {a["name"]: a for a in job["artifacts"]}
    assert set(artifacts) == {"best.bin", "last.bin"}
    best = artifacts["best.bin"]
    assert best["uri"].endswith(f"checkpoints/projects/default/jobs/{job['id']}/best.bin")
    body = httpx.get(f"{gateway.url}{best['download_url']}").content
    assert len(body) == best["size"] == 4096
    assert hashlib.sha256(body).hexdigest() == best["sha256"]
