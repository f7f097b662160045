"""One stack for the fault tests: a gateway, a toy training service and an S3 server.

Tests that kill or stop a component start it again before they end, so the next one finds the
stack whole. The settings make faults quick to provoke: a short stop grace period, a small
in-memory bound on the reporter (a gateway outage spills events to disk), and a `last`
checkpoint uploaded after every epoch (storage that dies is noticed at once).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import Processes
from tests.support.server_s3 import running_s3_server

from .stack import Stack, toy_stack

STOP_GRACE_SECONDS = 1.0
REPORTER_MAX_BUFFERED = 10


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("faults")
    processes = Processes(root)
    with running_s3_server(root / "s3") as s3:
        storage = {"STORAGE_URI": f"s3://{s3.bucket}/trainyard", **s3.env()}
        service_env = {
            **storage,
            "STOP_GRACE_SECONDS": str(STOP_GRACE_SECONDS),
            "REPORTER_MAX_BUFFERED": str(REPORTER_MAX_BUFFERED),
            "CHECKPOINT_INTERVAL_SECONDS": "0",
        }
        try:
            yield toy_stack(processes, s3, service_env, **storage)
        finally:
            processes.stop_all()
