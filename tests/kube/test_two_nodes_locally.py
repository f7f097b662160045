"""The two pods of an Indexed Job for a run over two nodes, run here as two local processes.

Each gets what its pod would: the container's command and environment from the Job the
executor builds, its completion index as `JOB_COMPLETION_INDEX` (expanded into the command as
the kubelet does), and the Secret's callback token. What a cluster's network provides is
stood in for: pod 0's DNS name resolves to loopback, and free ports replace the fixed
rendezvous and relay ports (two pods have a network each, two processes here share one).
The callback endpoint is a local HTTP receiver. Real training: timm, gloo, tiny data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import free_port
from tests.support.webhook_receiver import WebhookReceiver
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_classification
from trainyard_runtime.run_environment import RunEnvironment
from trainyard_servicekit.executors import LaunchSpec
from trainyard_servicekit.executors.kubernetes.distributed import master_address
from trainyard_servicekit.executors.kubernetes.job import KubernetesSettings, build_job
from trainyard_servicekit.executors.launch_command import RELAY_PORT, RENDEZVOUS_PORT
from trainyard_wire.spec import JobSpec

from .jobs import TOKEN

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "job-two-nodes"

pytestmark = pytest.mark.e2e


def pod_process(
    job: dict[str, Any], index: int, ports: dict[int, int], storage: Path, work: Path
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of the Job's pod with completion index `index`."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {
        "CALLBACK_TOKEN": TOKEN,  # from the per-job Secret
        "JOB_COMPLETION_INDEX": str(index),  # from the pod's completion-index annotation
        "STORAGE_URI": storage.as_uri(),
        "WORK_DIR": str(work / f"pod-{index}"),
    }
    command = [re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], part) for part in container["command"]]
    command = [part.replace(master_address(RUN_ID), "127.0.0.1") for part in command]
    for fixed, free in ports.items():
        command = [part.replace(f"={fixed}", f"={free}") for part in command]
    command[0] = str(environment_python(REPO, "timm"))  # the image's python
    return command, {**os.environ, **env}


def test_two_pods_wired_as_the_indexed_job_train_one_job(tmp_path: Path) -> None:
    data = make_classification(tmp_path / "shapes", train_per_class=8, val_per_class=4, size=32)
    receiver = WebhookReceiver()
    spec = JobSpec.model_validate(
        {
            "framework": "timm",
            "task": "classification",
            "model": "test_resnet",
            "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
            "hyperparams": {"epochs": 2, "batch_size": 8, "image_size": 32},
            "resources": {"gpu": 0, "cpu": 1},
            "distributed": {"nodes": 2},
            "project": "tests",
        }
    )
    launch = LaunchSpec(
        "trainyard_timm.train",
        RunEnvironment(
            job_id=RUN_ID,
            spec=spec,
            callback_url=receiver.url,
            callback_token=TOKEN,
            storage_uri="s3://bucket/runs",  # replaced by a local folder per pod below
        ),
    )
    job = build_job(launch, KubernetesSettings())
    ports = {RENDEZVOUS_PORT: free_port(), RELAY_PORT: free_port()}
    pods = []
    try:
        for index in (0, 1):
            command, env = pod_process(job, index, ports, tmp_path / "storage", tmp_path)
            with (tmp_path / f"pod-{index}.log").open("w") as log:
                pods.append(
                    subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        codes = [pod.wait(timeout=900) for pod in pods]
    finally:
        for pod in pods:
            pod.kill()
            pod.wait()
        receiver.close()
    logs = [(tmp_path / f"pod-{index}.log").read_text() for index in (0, 1)]
    assert codes == [0, 0], logs

    events = [e for r in receiver.accepted() for e in json.loads(r.body)["events"]]
    statuses = [e["state"] for e in events if e["type"] == "status"]
    assert statuses == ["running", "succeeded"], events
    assert [e["epoch"] for e in events if e["type"] == "metric"] == [1, 2]  # one voice
    lines = [e["line"] for e in events if e["type"] == "log"]
    for rank in (0, 1):  # rank 1 ran on the other pod and reached the job's log through the relay
        assert any(line.startswith(f"[rank {rank}] [timm] epoch 2/2") for line in lines), lines
    assert {e["name"] for e in events if e["type"] == "artifact"} == {"best.pt", "last.pt"}
