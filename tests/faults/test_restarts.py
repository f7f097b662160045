"""The service or the gateway goes away while jobs train, and comes back: every job still ends
in the state that is true, and its event log is whole (numbered from 1, no gaps, nothing twice).

A short gateway restart is in tests/integration/test_failures_and_control.py; here the outage
is long enough for the reporter to spill to disk.
"""

from __future__ import annotations

import os
import signal
import time

from tests.support.datasets import tiny_dataset
from tests.support.jobs import get_job, submit, toy_spec, wait_for
from tests.support.processes import process_alive
from trainyard_runtime.training.runner import SPILL_FILE
from trainyard_wire.states import TERMINAL

from .stack import intact_event_log, log_lines, service_run, wait_file

GATEWAY_OUTAGE_SECONDS = 20
KILLED = "killed by signal SIGKILL"


def epochs_of(events):
    return [e["epoch"] for e in events if e["type"] == "metric"]


def final_states(events):
    return [e["state"] for e in events if e["type"] == "status" and e["state"] != "running"]


def test_service_killed_mid_run_then_restarted(tmp_path, stack):
    service, service_url, gateway = stack.service, stack.service_url, stack.gateway
    dataset = tiny_dataset(tmp_path / "ds")
    options = {"epoch_seconds": 0.2, "lines_per_epoch": 1}
    survivor = submit(gateway.url, toy_spec(dataset, hyperparams={"epochs": 60}, options=options))
    victim = submit(gateway.url, toy_spec(dataset, hyperparams={"epochs": 500}, options=options))
    pids = {
        job["id"]: int(wait_file(stack.run_dir(job["id"]) / "work" / "pid"))
        for job in (survivor, victim)
    }
    for job in (survivor, victim):
        wait_for(gateway.url, job["id"], {"running"})

    service.stop(signal.SIGKILL)  # the service dies; its runs, in their own groups, go on
    assert all(process_alive(pid) for pid in pids.values())
    os.kill(pids[victim["id"]], signal.SIGKILL)  # and one dies while no service watches it
    deadline = time.monotonic() + 20
    while process_alive(pids[victim["id"]]):  # gone (and reaped) before the service is back
        assert time.monotonic() < deadline, "the killed run never went away"
        time.sleep(0.05)
    service.start()
    service.wait_healthy(f"{service_url}/health", timeout=60)

    adopted = service_run(service_url, survivor["id"])
    assert (adopted["status"], adopted["pid"]) == ("running", pids[survivor["id"]])
    # Both runs were forked by the service's warm runner, which outlived the service and
    # reaped the victim: how it died is known. (A cold run's is not: it ends DIED_WHILE_DOWN
    # with no exit code, see tests/shared/test_subprocess_executor.py.)
    assert adopted["warm_start"] is True
    lost_run = service_run(service_url, victim["id"])
    assert (lost_run["status"], lost_run["reason"]) == ("failed", KILLED)
    assert (lost_run["exit_code"], lost_run["signal"]) == (137, 9)
    assert lost_run["failure_reason"] == "process_exited"

    failed = wait_for(gateway.url, victim["id"], TERMINAL, timeout=30)
    assert failed["state"] == "failed", failed
    assert failed["error"]["message"] == KILLED
    assert failed["error"]["exit_code"] == 137
    done = wait_for(gateway.url, survivor["id"], TERMINAL, timeout=60)
    assert done["state"] == "succeeded", done
    survivor_events = intact_event_log(gateway, survivor["id"])
    assert epochs_of(survivor_events) == list(range(1, 61))
    assert final_states(survivor_events) == ["succeeded"]
    assert final_states(intact_event_log(gateway, victim["id"])) == []

    # The adopted run is no child of the restarted service; its exit code came from train.py.
    deadline = time.monotonic() + 20
    while service_run(service_url, survivor["id"])["status"] == "running":
        assert time.monotonic() < deadline, "the restarted service never saw the run end"
        time.sleep(0.2)
    ended = service_run(service_url, survivor["id"])
    assert (ended["status"], ended["exit_code"]) == ("succeeded", 0)


def test_gateway_down_for_20_seconds_loses_nothing_and_stores_nothing_twice(tmp_path, stack):
    # The stack's reporter bound is small: most events of the outage wait in the spill file.
    gateway = stack.gateway
    epochs, lines = 24, 4
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"),
        hyperparams={"epochs": epochs},
        options={"epoch_seconds": 0.5, "lines_per_epoch": lines},
    )
    job = submit(gateway.url, spec)
    wait_for(gateway.url, job["id"], {"running"})
    spill = stack.run_dir(job["id"]) / "work" / SPILL_FILE

    gateway.proc.stop()
    stopped = time.monotonic()
    while not (spill.exists() and spill.read_text().count("\n") > 10):
        assert time.monotonic() - stopped < GATEWAY_OUTAGE_SECONDS, "the reporter never spilled"
        time.sleep(0.2)
    time.sleep(max(0.0, GATEWAY_OUTAGE_SECONDS - (time.monotonic() - stopped)))
    gateway.proc.start()
    gateway.proc.wait_healthy(f"{gateway.url}/health", timeout=60)

    done = wait_for(gateway.url, job["id"], TERMINAL, timeout=60)
    assert done["state"] == "succeeded", done
    assert done["progress"]["epoch"] == epochs
    events = intact_event_log(gateway, job["id"])
    assert epochs_of(events) == list(range(1, epochs + 1))
    expected = [f"epoch {e} step {i}" for e in range(1, epochs + 1) for i in range(lines)]
    assert log_lines(events) == expected  # every line once, in order
    assert final_states(events) == ["succeeded"]
    assert not spill.exists()  # delivered, then removed by train.py
    assert get_job(gateway.url, job["id"])["metrics"]["loss"] == 0.5**epochs
