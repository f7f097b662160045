"""Object storage dies while train.py uploads its checkpoints: the job fails saying so, and
keeps the checkpoint that made it before. (Storage down from the start is covered in
tests/integration/test_failures_and_control.py.)"""

from __future__ import annotations

import signal
import time

from tests.support.datasets import tiny_dataset
from tests.support.jobs import get_job, submit, toy_spec, wait_for
from trainyard_wire.states import TERMINAL

from .stack import intact_event_log


def test_storage_lost_during_checkpoint_upload_fails_the_job_saying_so(tmp_path, stack):
    spec = toy_spec(
        tiny_dataset(tmp_path / "ds"), hyperparams={"epochs": 500}, options={"epoch_seconds": 0.2}
    )
    job = submit(stack.url, spec)
    deadline = time.monotonic() + 60
    while not get_job(stack.url, job["id"])["artifacts"]:  # `last` after every epoch
        assert time.monotonic() < deadline, "no checkpoint was ever uploaded"
        time.sleep(0.1)
    stack.s3.process.stop(signal.SIGKILL)
    try:
        done = wait_for(stack.url, job["id"], TERMINAL, timeout=90)
    finally:
        stack.s3.restart()  # the same server, ports and data, for the tests after this one

    assert done["state"] == "failed", done
    error = done["error"]
    assert error["reason"] == "storage_unavailable"
    assert stack.s3.endpoint in error["message"] and "unreachable" in error["message"]
    assert error["exit_code"] == 1
    assert [a["name"] for a in done["artifacts"]] == ["last.bin"]  # the upload before it died
    events = intact_event_log(stack.gateway, job["id"])
    finals = [e for e in events if e["type"] == "status" and e["state"] != "running"]
    assert [(e["state"], e["reason"]) for e in finals] == [("failed", "storage_unavailable")]
