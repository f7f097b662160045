"""`trainyard submit --nodes N --processes-per-node P`: the flags reach the spec, the job runs
as P processes, `trainyard show` gives its shape, and what a service cannot do is refused.

The toy service runs on the timm interpreter here (the launcher needs torch for torchrun) and
takes several processes on the CPU (TOY_DISTRIBUTED=1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import run_trainyard
from tests.client.test_cli import toy_flags
from tests.support.processes import Gateway, Processes, framework_python


@pytest.fixture(scope="module")
def gateway(module_processes: Processes) -> Iterator[Gateway]:
    _, service = module_processes.service(
        "toy",
        python=framework_python("timm"),
        module="toy_framework",
        HEARTBEAT_INTERVAL="0.5",
        MAX_CONCURRENT_RUNS="2",
        TOY_DISTRIBUTED="1",
    )
    yield module_processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service}")


def test_a_job_of_two_processes_runs_and_shows_its_shape(gateway: Gateway, dataset_dir: Path):
    quick = ("--epochs", "1", "-o", "epoch_seconds=0", "-o", "lines_per_epoch=1")
    done = run_trainyard(
        *toy_flags(dataset_dir, "--processes-per-node", "2", *quick, "--follow"),
        url=gateway.url,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = done.stdout.splitlines()[0].removeprefix("submitted ")
    shown = run_trainyard("show", job_id, url=gateway.url)
    assert shown.returncode == 0, shown.stderr
    assert "distributed  1 node x 2 processes per node (2 processes)" in shown.stdout
    logs = run_trainyard("logs", job_id, url=gateway.url)
    assert "2 processes (1 node(s) x 2) of toy_framework.train" in logs.stdout, logs.stdout


def test_more_nodes_than_the_subprocess_executor_has_is_refused(
    gateway: Gateway, dataset_dir: Path
):
    refused = run_trainyard(*toy_flags(dataset_dir, "--nodes", "2"), url=gateway.url)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "distributed.nodes" in refused.stderr
    assert "the subprocess executor runs a job on at most 1 node(s), not 2" in refused.stderr
