"""KubernetesExecutor against a real control plane (tests/kube/controlplane.py).

The executor holds the `trainyard-service` ServiceAccount's token, bound to the Role in
k8s/rbac.yaml: a call the Role does not grant fails. Jobs run for real as far as Kubernetes
goes — the Job controller makes their Pods, the scheduler places them, the garbage collector
removes what a deleted Job owned — and the simulated kubelet runs each Pod's command
(tests/kube/workload.py) as a local process and reports how it ended. The tests never write
a Job's status: the Job controller decides every outcome asserted here.

Here: what the service may do, a run from its start to its end and its logs, finding runs
again after a restart, and telling frameworks and an unreachable cluster apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from trainyard_servicekit.executors import RunInfo, RunNotFound, RunStatus
from trainyard_servicekit.executors.kubernetes.executor import (
    ClusterUnreachable,
    KubernetesExecutor,
)
from trainyard_servicekit.executors.kubernetes.job import (
    KubernetesSettings,
    framework_selector,
    job_name,
    secret_name,
)

from .controlplane import NAMESPACE as NS
from .controlplane import ControlPlane
from .executor_support import MERGE_PATCH, new_executor, status_is, token_in, wait_for
from .jobs import TOKEN, launch


def test_the_service_holds_only_what_its_role_grants(cluster: ControlPlane) -> None:
    with cluster.service_client() as api:
        core, batch = CoreV1Api(api), BatchV1Api(api)
        batch.list_namespaced_job(NS)  # granted
        refused: dict[str, Callable[[], Any]] = {
            "list secrets": lambda: core.list_namespaced_secret(NS),
            "create pods": lambda: core.create_namespaced_pod(NS, {"metadata": {"name": "x"}}),
            "patch jobs": lambda: batch.patch_namespaced_job(
                "x", NS, {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE_PATCH
            ),
            "jobs elsewhere": lambda: batch.list_namespaced_job("default"),
            "nodes": lambda: core.list_node(),
        }
        for what, call in refused.items():
            with pytest.raises(ApiException) as denied:
                call()
            assert denied.value.status == 403, what


def test_start_creates_job_then_owned_secret_and_the_job_controller_completes_it(
    admin: ApiClient, executor: KubernetesExecutor
) -> None:
    info = executor.start(launch("job-ok", seconds=0.5, print_env="CALLBACK_TOKEN"))
    assert info.status == RunStatus.PENDING and info.executor == "kubernetes"
    job = BatchV1Api(admin).read_namespaced_job(job_name("job-ok"), NS)
    secret = CoreV1Api(admin).read_namespaced_secret(secret_name("job-ok"), NS)
    (owner,) = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Job", job.metadata.name, job.metadata.uid)
    assert token_in(admin, "job-ok") == TOKEN

    wait_for(status_is(executor, "job-ok", RunStatus.SUCCEEDED))
    done = executor.status("job-ok")
    assert done.ended_at is not None and done.exit_code == 0
    assert executor.running_count() == 0

    def complete() -> bool:
        job = BatchV1Api(admin).read_namespaced_job(job_name("job-ok"), NS)
        return any(c.type == "Complete" and c.status == "True" for c in job.status.conditions)

    wait_for(complete)  # after SuccessCriteriaMet, once its Pod is accounted for
    # The kubelet read the token from the Secret, as the Pod's secretKeyRef says.
    assert f"CALLBACK_TOKEN={TOKEN}" in executor.logs("job-ok")


def test_logs_come_from_the_pod_through_the_api_server(
    cluster: ControlPlane, executor: KubernetesExecutor
) -> None:
    try:
        executor.start(launch("job-logs", output="epoch 1\\nepoch 2\\n", seconds=300))
        wait_for(status_is(executor, "job-logs", RunStatus.RUNNING))
        wait_for(lambda: executor.logs("job-logs", tail=2) == ["epoch 1", "epoch 2"])
        assert executor.logs("job-logs", tail=1) == ["epoch 2"]
        assert cluster.kubelet is not None
        path, query = [r for r in cluster.kubelet.log_requests if "job-logs" in r[0]][-1]
        assert path.startswith(f"/containerLogs/{NS}/trainyard-job-logs-")
        assert path.endswith("/train") and query["tailLines"] == "1"
        with pytest.raises(RunNotFound):
            executor.logs("job-unknown")
    finally:
        executor.stop("job-logs", grace_seconds=0)


def test_follow_logs_streams_the_pod_log_until_the_container_ends(
    cluster: ControlPlane, executor: KubernetesExecutor
) -> None:
    executor.start(launch("job-follow", output="epoch 1\\nepoch 2\\n", seconds=3, exit=0))
    wait_for(status_is(executor, "job-follow", RunStatus.RUNNING))
    assert list(executor.follow_logs("job-follow", tail=10)) == ["epoch 1", "epoch 2"]
    assert cluster.kubelet is not None
    (run,) = [r for r in cluster.kubelet.runs.values() if "job-follow" in r.pod["metadata"]["name"]]
    assert run.proc is not None and run.proc.poll() == 0  # the stream ended with the container
    wait_for(status_is(executor, "job-follow", RunStatus.SUCCEEDED))


def test_a_new_executor_finds_the_runs_again(
    cluster: ControlPlane, executor: KubernetesExecutor
) -> None:
    try:
        executor.start(launch("job-again", seconds=300))
        wait_for(status_is(executor, "job-again", RunStatus.RUNNING))
        later = new_executor(cluster)  # a restarted service
        try:
            runs: dict[str, RunInfo] = {run.run_id: run for run in later.list()}
            assert runs["job-again"].status == RunStatus.RUNNING
            assert later.status("job-again").status == RunStatus.RUNNING
            with pytest.raises(RunNotFound):
                later.status("job-never-started")
        finally:
            later.close()
    finally:
        executor.stop("job-again", grace_seconds=0)


def test_other_frameworks_jobs_are_not_ours(cluster: ControlPlane) -> None:
    timm = new_executor(cluster, framework="timm")
    try:
        timm.start(launch("job-timm", framework="timm", seconds=0))
        toy = new_executor(cluster)
        try:
            assert "job-timm" not in {run.run_id for run in toy.list()}
        finally:
            toy.close()
        # The API server applies the selector: the service is not sent the other's Jobs.
        with cluster.service_client() as api:
            batch = BatchV1Api(api)
            all_jobs = {j.metadata.name for j in batch.list_namespaced_job(NS).items}
            toy_jobs = {
                j.metadata.name
                for j in batch.list_namespaced_job(
                    NS, label_selector=framework_selector("toy")
                ).items
            }
        assert job_name("job-timm") in all_jobs and job_name("job-timm") not in toy_jobs
        assert toy_jobs < all_jobs
    finally:
        timm.close()


def test_an_unreachable_cluster_is_said_so() -> None:
    from tests.support.processes import free_port

    client = ApiClient()
    client.configuration.host = f"http://127.0.0.1:{free_port()}"
    executor = KubernetesExecutor(KubernetesSettings(), "toy", client, request_timeout=1)
    try:
        with pytest.raises(ClusterUnreachable, match="create Job"):
            executor.start(launch("job-nowhere"))
    finally:
        executor.close()
