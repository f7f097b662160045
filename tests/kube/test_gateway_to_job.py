"""A gateway job with `executor: kubernetes` becomes a Job that carries all train.py needs.

No API server runs here: the service talks to the in-memory emulator. The test plays the
kubelet: it runs the Job's container command with the Job's environment (the callback token
read from the per-job Secret, as the kubelet would) as a local process, and the job must end
`succeeded` at the gateway with all its epochs.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from kubernetes.client import BatchV1Api, CoreV1Api

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for
from tests.support.processes import REPO, Processes

from .emulator import EmulatedCluster
from .test_executor import cluster  # noqa: F401 - the module's emulator fixture

NS = "training"


def read_job(cluster: EmulatedCluster, name: str, timeout: float = 60):  # noqa: F811
    deadline = time.monotonic() + timeout
    with cluster.client() as api:
        while True:
            try:
                return BatchV1Api(api).read_namespaced_job(name, NS)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def secret_value(cluster: EmulatedCluster, name: str, key: str) -> str:  # noqa: F811
    with cluster.client() as api:
        secret = CoreV1Api(api).read_namespaced_secret(name, NS)
    if secret.data and key in secret.data:
        return base64.b64decode(secret.data[key]).decode()
    return secret.string_data[key]


def container_env(cluster: EmulatedCluster, container) -> dict[str, str]:  # noqa: F811
    env = {}
    for var in container.env:
        if var.value_from is not None:
            ref = var.value_from.secret_key_ref
            env[var.name] = secret_value(cluster, ref.name, ref.key)
        else:
            env[var.name] = var.value
    return env


def test_the_job_the_cluster_receives_trains_to_success(
    tmp_path: Path,
    processes: Processes,
    cluster: EmulatedCluster,  # noqa: F811
) -> None:
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    _, service_url = processes.toy_service(
        TRAINING_EXECUTOR="kubernetes", KUBECONFIG=str(kubeconfig)
    )
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), executor="kubernetes")
    job = submit(gateway.url, spec)

    k8s_job = read_job(cluster, f"trainyard-{job['id']}")
    container = k8s_job.spec.template.spec.containers[0]
    env = container_env(cluster, container)
    assert env["JOB_ID"] == job["id"] and env["CALLBACK_TOKEN"]
    assert env["CALLBACK_URL"].startswith(gateway.url)
    # The kubelet's part: the image's `python` is the toy framework's interpreter here, and
    # /workspace (an emptyDir in the pod) is a temporary folder.
    assert container.command[0] == "python"
    work = tmp_path / "workspace"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, *container.command[1:]],
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(REPO / "tests"),
            **env,
            "WORK_DIR": str(work),
        },
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"})
    assert done["state"] == "succeeded", done
    epochs = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/metrics").json()["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert {a["name"] for a in done["artifacts"]} == {"best.bin", "last.bin"}
