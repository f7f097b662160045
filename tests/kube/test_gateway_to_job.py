"""A gateway job with `executor: kubernetes` runs on the real control plane to `succeeded`.

The gateway routes it to a training service (a real process) that holds the trainyard-service
ServiceAccount's token; the service creates the Job and its callback Secret; the Job
controller creates the Pod, the scheduler binds it, and the simulated kubelet runs the toy
framework's train.py with the Pod's environment (the callback token read from the Secret).
The job must end `succeeded` at the gateway with its epochs and checkpoints; after the Job's
TTL, the TTL controller deletes the Job and the garbage collector its Secret and Pod.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from kubernetes.client import BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for
from tests.support.processes import Processes

from .controlplane import NAMESPACE as NS
from .controlplane import ControlPlane


def eventually(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
            if found:
                return found
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def gone(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_a_gateway_job_runs_on_the_cluster_to_success(
    tmp_path: Path, processes: Processes, cluster: ControlPlane
) -> None:
    kubeconfig = cluster.write_service_kubeconfig(tmp_path / "kubeconfig")
    _, service_url = processes.toy_service(
        TRAINING_EXECUTOR="kubernetes",
        KUBECONFIG=str(kubeconfig),
        KUBERNETES_TTL_SECONDS_AFTER_FINISHED="3",
    )
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service_url}")
    spec = toy_spec(tiny_dataset(tmp_path / "ds"), executor="kubernetes")
    job = submit(gateway.url, spec)
    name, secret = f"trainyard-{job['id']}", f"trainyard-{job['id']}-callback"

    with cluster.admin_client() as api:
        batch, core = BatchV1Api(api), CoreV1Api(api)
        k8s_job = eventually(lambda: batch.read_namespaced_job(name, NS))
        container = k8s_job.spec.template.spec.containers[0]
        env = {var.name: var for var in container.env}
        assert env["JOB_ID"].value == job["id"]
        assert env["CALLBACK_URL"].value.startswith(gateway.url)
        assert env["CALLBACK_TOKEN"].value_from.secret_key_ref.name == secret
        assert k8s_job.spec.ttl_seconds_after_finished == 3

        done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"}, timeout=180)
        assert done["state"] == "succeeded", done
        epochs = httpx.get(f"{gateway.url}/v1/jobs/{job['id']}/metrics").json()["epochs"]
        assert [e["epoch"] for e in epochs] == [1, 2, 3]
        assert {a["name"] for a in done["artifacts"]} == {"best.bin", "last.bin"}
        assert cluster.kubelet is not None
        (ran,) = [
            run
            for run in cluster.kubelet.runs.values()
            if run.pod["metadata"]["labels"].get("trainyard.io/job-id") == job["id"]
        ]
        assert ran.pod["spec"]["nodeName"] == "kwok-cpu"  # the scheduler's choice
        assert eventually(lambda: ran.proc is not None and ran.proc.poll() is not None)
        assert ran.proc.returncode == 0

        # The TTL controller deletes the finished Job; the garbage collector what it owned.
        eventually(lambda: gone(lambda: batch.read_namespaced_job(name, NS)), 60)
        eventually(lambda: gone(lambda: core.read_namespaced_secret(secret, NS)), 60)
        selector = f"trainyard.io/job-id={job['id']}"
        eventually(lambda: not core.list_namespaced_pod(NS, label_selector=selector).items, 60)
