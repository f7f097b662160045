"""A job's life through the real gateway and a real (toy) training service."""

from __future__ import annotations

import hashlib
import json

import httpx

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for


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
    assert job["stopped_early"] is None

    # Early stopping: the loss never improves by 1.0, so the run ends 2 epochs after the first.
    rule = {"metric": "loss", "patience": 2, "min_delta": 1.0}
    spec = toy_spec(tiny_dataset(tmp_path / "ds2"), hyperparams={"epochs": 6})
    created = submit(gateway.url, {**spec, "early_stopping": rule})
    job = wait_for(gateway.url, created["id"], {"succeeded", "failed"}, timeout=60)
    assert job["state"] == "succeeded", job
    assert job["progress"]["epoch"] == 3 and job["progress"]["total_epochs"] == 6
    assert job["stopped_early"]["epoch"] == 3 and job["stopped_early"]["best_epoch"] == 1
    assert "loss" in job["stopped_early"]["reason"]
    assert {a["name"] for a in job["artifacts"]} == {"best.bin", "last.bin"}
    listed = httpx.get(f"{gateway.url}/v1/jobs", params={"framework": "toy"}).json()["items"]
    assert {j["id"]: j["stopped_early"] for j in listed}[job["id"]] == job["stopped_early"]


def test_live_log_stream_follows_a_job_to_its_end(tmp_path, processes):
    _, service_url = processes.toy_service()
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"),
        hyperparams={"epochs": 6},
        options={"epoch_seconds": 0.3, "lines_per_epoch": 2},
    )
    job = submit(gateway.url, spec)
    events: list[tuple[str, str, str]] = []  # (id, event, data)
    with httpx.stream(
        "GET", f"{gateway.url}/v1/jobs/{job['id']}/logs/stream", timeout=60
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if current:
                    events.append((current.get("id", ""), current["event"], current["data"]))
                    current = {}
                continue
            field, _, value = line.partition(": ")
            current[field] = value
    kinds = [kind for _, kind, _ in events]
    assert kinds[-1] == "end" and json.loads(events[-1][2]) == {"state": "succeeded"}
    lines = [json.loads(data)["line"] for _, kind, data in events if kind == "log"]
    steps = [ln for ln in lines if ln.startswith("epoch ")]
    assert steps == [f"epoch {e} step {i}" for e in range(1, 7) for i in range(2)]
    # Reconnecting with Last-Event-ID picks up after that line, without repeats.
    ids = [int(i) for i, kind, _ in events if kind == "log"]
    middle = ids[len(ids) // 2]
    resumed = httpx.get(
        f"{gateway.url}/v1/jobs/{job['id']}/logs/stream",
        headers={"Last-Event-ID": str(middle)},
        timeout=30,
    ).text
    resumed_ids = [int(ln[4:]) for ln in resumed.splitlines() if ln.startswith("id: ")]
    assert resumed_ids == [i for i in ids if i > middle]


def test_listing_filters_and_cursor_pagination(tmp_path, processes):
    # No toy service runs: the jobs stay queued, in a known order.
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES="toy=http://127.0.0.1:9")
    ds = tiny_dataset(tmp_path / "ds")
    created = [submit(gateway.url, toy_spec(ds, project=f"p{i % 2}"))["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{gateway.url}/v1/jobs", params=params).json()
        assert len(page["items"]) <= 2
        seen += [job["id"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created[::-1]  # newest first, each once
    p1 = httpx.get(f"{gateway.url}/v1/jobs", params={"project": "p1"}).json()["items"]
    assert [job["id"] for job in p1] == [created[3], created[1]]
    queued = httpx.get(f"{gateway.url}/v1/jobs", params={"state": "queued", "framework": "toy"})
    assert len(queued.json()["items"]) == 5
    assert httpx.get(f"{gateway.url}/v1/jobs", params={"state": "running"}).json()["items"] == []
    positions = [httpx.get(f"{gateway.url}/v1/jobs/{i}").json()["queue"] for i in created]
    assert [q["position"] for q in positions] == [1, 2, 3, 4, 5]
    ready = httpx.get(f"{gateway.url}/ready").json()
    assert ready["ready"] is True and ready["services"]["toy"]["healthy"] is False


def test_service_streams_a_runs_output_until_it_ends(tmp_path, processes, internal_headers):
    _, service_url = processes.toy_service()
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), options={"epoch_seconds": 0.3})
    job = submit(gateway.url, spec)
    wait_for(gateway.url, job["id"], {"running", "succeeded"})
    response = httpx.get(
        f"{service_url}/v1/runs/{job['id']}/logs/follow",
        params={"tail": 1000},
        headers=internal_headers,
        timeout=60,
    )
    assert response.status_code == 200
    steps = [ln for ln in response.text.splitlines() if ln.startswith("epoch ")]
    assert steps == [f"epoch {e} step {i}" for e in range(1, 4) for i in range(2)]
    missing = httpx.get(f"{service_url}/v1/runs/job-nope/logs/follow", headers=internal_headers)
    assert missing.status_code == 404
