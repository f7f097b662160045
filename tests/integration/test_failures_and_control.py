"""Cancel, crashes, a service that is down, a gateway restart: the job's state stays truthful."""

from __future__ import annotations

import time

import httpx

from tests.support.datasets import tiny_dataset
from tests.support.jobs import get_job, submit, toy_spec, wait_for, wait_for_epoch
from tests.support.processes import free_port, process_alive


def toy_stack(processes, **gateway_env):
    _, service_url = processes.toy_service()
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}", **gateway_env)
    return gateway


def run_dir(processes, job_id):
    return processes.root / "data-toy" / "services" / "toy" / "runs" / job_id


def wait_file(path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_cancel_running_job_ends_cancelled_and_kills_every_process(tmp_path, processes):
    gateway = toy_stack(processes)
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"),
        hyperparams={"epochs": 500},
        options={"epoch_seconds": 0.2, "spawn_child": True},
    )
    job = submit(gateway.url, spec)
    wait_for(gateway.url, job["id"], {"running"})
    work = run_dir(processes, job["id"]) / "work"
    pid, child = int(wait_file(work / "pid")), int(wait_file(work / "child_pid"))
    assert process_alive(pid) and process_alive(child)

    response = httpx.post(f"{gateway.url}/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"
    deadline = time.monotonic() + 20
    while (process_alive(pid) or process_alive(child)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(pid), "train.py still running after cancel"
    assert not process_alive(child), "a child of train.py outlived the cancel"
    # Terminal states never change, whatever train.py reported while stopping.
    time.sleep(1.5)
    final = get_job(gateway.url, job["id"])
    assert final["state"] == "cancelled"
    assert httpx.post(f"{gateway.url}/v1/jobs/{job['id']}/cancel").status_code == 409


def test_cancel_queued_job(tmp_path, processes):
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy=http://127.0.0.1:{free_port()}")
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds")))
    response = httpx.post(f"{gateway.url}/v1/jobs/{job['id']}/cancel")
    assert response.json()["state"] == "cancelled"


def test_exception_in_train_py_fails_with_type_message_and_log_tail(tmp_path, processes):
    gateway = toy_stack(processes)
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds"), options={"fail_at_epoch": 2}))
    job = wait_for(gateway.url, job["id"], {"succeeded", "failed"})
    assert job["state"] == "failed"
    error = job["error"]
    assert error["reason"] == "exception"
    assert error["error_type"] == "RuntimeError"
    assert error["message"] == "toy failure at epoch 2"
    assert error["exit_code"] == 1
    assert any("RuntimeError: toy failure at epoch 2" in line for line in error["log_tail"])
    assert job["progress"]["epoch"] == 1  # the epoch it finished before failing


def test_process_that_dies_without_reporting_fails_with_exit_code_and_output(tmp_path, processes):
    gateway = toy_stack(processes)
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"), options={"hard_exit_at_epoch": 2, "exit_code": 7}
    )
    job = wait_for(gateway.url, submit(gateway.url, spec)["id"], {"succeeded", "failed"})
    assert job["state"] == "failed"
    assert job["error"]["exit_code"] == 7
    assert job["error"]["reason"] == "process_exited"
    assert "toy hard exit" in job["error"]["log_tail"]


def test_job_waits_queued_while_service_is_down_then_runs(tmp_path, processes):
    port = free_port()
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy=http://127.0.0.1:{port}")
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds")))
    deadline = time.monotonic() + 30
    while not (waiting := get_job(gateway.url, job["id"]))["queue"]["reason"]:
        assert time.monotonic() < deadline, f"the dispatcher never said why it waits: {waiting}"
        time.sleep(0.1)
    assert waiting["state"] == "queued"
    assert waiting["queue"]["position"] == 1
    assert "toy service" in waiting["queue"]["reason"]
    processes.toy_service(port=port)
    assert wait_for(gateway.url, job["id"], {"succeeded", "failed"})["state"] == "succeeded"


def test_gateway_restart_while_training_loses_nothing(tmp_path, processes):
    gateway = toy_stack(processes)
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"),
        hyperparams={"epochs": 12},
        options={"epoch_seconds": 0.25, "lines_per_epoch": 3},
    )
    job = submit(gateway.url, spec)
    wait_for(gateway.url, job["id"], {"running"})
    wait_for_epoch(gateway.url, job["id"])  # so that it stops mid-training
    gateway.proc.stop()
    time.sleep(2.0)  # epochs finish while nobody listens; the reporter keeps them
    gateway.restart()
    done = wait_for(gateway.url, job["id"], {"succeeded", "failed"}, timeout=90)
    assert done["state"] == "succeeded", done
    epochs = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/metrics").json()["epochs"]
    assert [e["epoch"] for e in epochs] == list(range(1, 13))
    lines = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/logs", params={"tail": 1000}).json()
    steps = [ln["line"] for ln in lines["lines"] if ln["line"].startswith("epoch ")]
    assert len(steps) == 36 and len(set(steps)) == 36


def test_callback_token_is_valid_for_its_job_only_and_batches_are_idempotent(tmp_path, processes):
    gateway = toy_stack(processes)
    ds = tiny_dataset(tmp_path / "ds")
    spec = toy_spec(ds, hyperparams={"epochs": 500}, options={"write_token": True})
    a = submit(gateway.url, spec)
    b = submit(gateway.url, spec)
    wait_for(gateway.url, a["id"], {"running"})
    wait_for(gateway.url, b["id"], {"running"})
    token_a = wait_file(run_dir(processes, a["id"]) / "work" / "token")
    events_url = f"{gateway.url}/internal/v1/jobs/{{}}/events"
    batch = {
        "events": [
            {"seq": 900_001, "type": "log", "line": "injected 1"},
            {"seq": 900_002, "type": "log", "line": "injected 2"},
        ]
    }
    auth = {"Authorization": f"Bearer {token_a}"}
    refused = httpx.post(events_url.format(b["id"]), json=batch, headers=auth)
    assert refused.status_code == 401
    assert httpx.post(events_url.format(a["id"]), json=batch).status_code == 401

    first = httpx.post(events_url.format(a["id"]), json=batch, headers=auth)
    again = httpx.post(events_url.format(a["id"]), json=batch, headers=auth)
    assert first.json() == {"stored": 2, "duplicates": 0, "last_seq": 900_002}
    assert again.json() == {"stored": 0, "duplicates": 2, "last_seq": 900_002}
    lines = httpx.get(f"{gateway.url}/v1/jobs/{a['id']}/logs", params={"tail": 5000}).json()
    injected = [ln["line"] for ln in lines["lines"] if ln["line"].startswith("injected")]
    assert injected == ["injected 1", "injected 2"]
    b_lines = httpx.get(f"{gateway.url}/v1/jobs/{b['id']}/logs", params={"tail": 5000}).json()
    assert not [ln for ln in b_lines["lines"] if ln["line"].startswith("injected")]

    bad = httpx.post(
        events_url.format(a["id"]), json={"events": [{"seq": 0, "type": "log"}]}, headers=auth
    )
    assert bad.status_code == 422
    for job in (a, b):
        httpx.post(f"{gateway.url}/v1/jobs/{job['id']}/cancel")


def test_a_crash_keeps_the_last_periodic_checkpoint(tmp_path, processes):
    _, service_url = processes.toy_service(CHECKPOINT_INTERVAL_SECONDS="0")
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    options = {"hard_exit_at_epoch": 3, "epoch_seconds": 0.6}  # time to report each epoch
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), options=options)
    job = wait_for(gateway.url, submit(gateway.url, spec)["id"], {"succeeded", "failed"})
    assert job["state"] == "failed"
    artifacts = {a["name"]: a for a in job["artifacts"]}
    assert set(artifacts) == {"last.bin"}
    body = httpx.get(f"{gateway.url}{artifacts['last.bin']['download_url']}").content
    assert body == b"epoch 2"  # the crash at epoch 3 lost one epoch, not the run


def test_storage_that_stays_down_fails_the_job_saying_so(tmp_path, processes):
    dead_s3 = {
        "STORAGE_URI": "s3://checkpoints/trainyard",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    _, service_url = processes.toy_service(**dead_s3)
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 1}))
    job = wait_for(gateway.url, job["id"], {"succeeded", "failed"}, timeout=120)
    assert job["state"] == "failed"
    assert job["error"]["reason"] == "storage_unavailable"
    assert dead_s3["AWS_ENDPOINT_URL"] in job["error"]["message"]
    assert "unreachable" in job["error"]["message"]
