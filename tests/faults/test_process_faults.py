"""train.py killed outright, or deaf to SIGTERM with worker processes of its own: the job ends
truthfully and no process of the run is left behind.

Covered elsewhere, not repeated here (tests/integration/test_failures_and_control.py): a polite
cancel, a hard exit with an exit code, an exception in train.py, storage that is down from the
start. MLflow down: tests/integration/test_mlflow_tracking.py (the job succeeds, its `mlflow`
field says why tracking is unavailable).
"""

from __future__ import annotations

import os
import signal
import time

import httpx

from tests.support.datasets import tiny_dataset
from tests.support.jobs import get_job, submit, toy_spec, wait_for, wait_for_epoch
from tests.support.processes import process_alive
from trainyard_wire.states import TERMINAL

from .stack import intact_event_log, log_lines, service_run, wait_file


def test_kill_9_of_train_py_fails_the_job_with_the_signal_and_its_last_output(tmp_path, stack):
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"),
        hyperparams={"epochs": 500},
        options={"epoch_seconds": 0.1, "lines_per_epoch": 2},
    )
    job = submit(stack.url, spec)
    pid = int(wait_file(stack.run_dir(job["id"]) / "work" / "pid"))
    wait_for_epoch(stack.url, job["id"], 2)
    os.kill(pid, signal.SIGKILL)

    done = wait_for(stack.url, job["id"], TERMINAL, timeout=30)
    assert done["state"] == "failed", done
    error = done["error"]
    assert (error["signal"], error["exit_code"]) == (9, 137)
    assert error["message"] == "killed by signal SIGKILL"
    assert any(line.startswith("epoch ") for line in error["log_tail"])
    run = service_run(stack.service_url, job["id"])
    assert (run["status"], run["failure_reason"], run["oom"]) == ("failed", "process_exited", False)

    events = intact_event_log(stack.gateway, job["id"])
    assert [e["state"] for e in events if e["type"] == "status"] == ["running"]  # no last word
    assert log_lines(events)  # what it printed before it died was kept


def test_cancel_ends_a_train_py_that_ignores_sigterm_and_its_workers(tmp_path, stack):
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"),
        hyperparams={"epochs": 500},
        options={"epoch_seconds": 0.2, "ignore_sigterm": True, "spawn_child": True},
    )
    job = submit(stack.url, spec)
    work = stack.run_dir(job["id"]) / "work"
    pid, child = int(wait_file(work / "pid")), int(wait_file(work / "child_pid"))
    wait_for(stack.url, job["id"], {"running"})

    asked = time.monotonic()
    response = httpx.post(f"{stack.url}/v1/jobs/{job['id']}/cancel", timeout=30)
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    while (process_alive(pid) or process_alive(child)) and time.monotonic() - asked < 60:
        time.sleep(0.05)
    assert not process_alive(pid), "train.py survived the cancel"
    assert not process_alive(child), "a worker of train.py survived the cancel"

    # train.py ignores SIGTERM: only the end of the grace period (SIGKILL, 9) stopped it.
    run = service_run(stack.service_url, job["id"])
    assert (run["status"], run["signal"], run["stop_requested"]) == ("stopped", 9, True)
    assert get_job(stack.url, job["id"])["state"] == "cancelled"
    events = intact_event_log(stack.gateway, job["id"])
    assert "cancelled" not in [e["state"] for e in events if e["type"] == "status"]
