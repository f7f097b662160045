"""KubernetesExecutor against a real control plane: stopping a run, and starting a run id
again, after a failure or while it is active, without the old Job leaking into the new run."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api

from trainyard_servicekit.executors import RunStatus
from trainyard_servicekit.executors.kubernetes.executor import ClusterRefused, KubernetesExecutor
from trainyard_servicekit.executors.kubernetes.job import (
    KubernetesSettings,
    job_name,
    run_labels,
    secret_name,
)
from trainyard_servicekit.executors.kubernetes.runs import RunTable

from .controlplane import NAMESPACE as NS
from .controlplane import ControlPlane
from .executor_support import (
    MERGE_PATCH,
    job_gone,
    new_executor,
    pods_of,
    secret_gone,
    status_is,
    token_in,
    wait_for,
)
from .jobs import launch


def test_stop_deletes_the_job_in_the_foreground(cluster: ControlPlane, admin: ApiClient) -> None:
    """Foreground: the Job stays, marked for deletion, until the garbage collector has
    removed its Pods. The workload ignores SIGTERM, so its Pod lasts its 2 s of grace."""
    executor = new_executor(cluster, termination_grace_seconds=2)
    try:
        executor.start(launch("job-stop", seconds=300, ignore_sigterm=1))
        wait_for(status_is(executor, "job-stop", RunStatus.RUNNING))
        info = executor.stop("job-stop", grace_seconds=7)
        assert info.stop_requested
        job = BatchV1Api(admin).read_namespaced_job(job_name("job-stop"), NS)
        assert job.metadata.deletion_timestamp is not None
        assert "foregroundDeletion" in (job.metadata.finalizers or [])
        assert pods_of(admin, "job-stop")  # still terminating
        wait_for(lambda: job_gone(admin, "job-stop"), 30)
        assert pods_of(admin, "job-stop") == []  # gone before their Job
        wait_for(status_is(executor, "job-stop", RunStatus.STOPPED))
        wait_for(lambda: secret_gone(admin, "job-stop"))  # owned by the Job: collected
    finally:
        executor.close()


def test_a_retry_after_a_failure_gets_a_new_job(
    admin: ApiClient, executor: KubernetesExecutor
) -> None:
    """The gateway retries a failed job with the same run id: a new Job must run it, with the
    new token, and nothing of the old Job (its deletion, its Pod) may leak into the new run."""
    run_id = "job-retry"
    batch = BatchV1Api(admin)
    executor.start(launch(run_id, exit=1))
    wait_for(status_is(executor, run_id, RunStatus.FAILED))
    old = batch.read_namespaced_job(job_name(run_id), NS)
    (old_pod,) = pods_of(admin, run_id)

    retry_token = "callback-token-of-the-retry"
    retry = launch(run_id, token=retry_token, seconds=1, print_env="CALLBACK_TOKEN")
    info = executor.start(retry)
    assert (info.status, info.reason, info.finished) == (RunStatus.PENDING, None, False)
    new = batch.read_namespaced_job(job_name(run_id), NS)
    assert new.metadata.uid != old.metadata.uid
    secret = CoreV1Api(admin).read_namespaced_secret(secret_name(run_id), NS)
    (owner,) = secret.metadata.owner_references
    assert (owner.name, owner.uid) == (new.metadata.name, new.metadata.uid)
    assert token_in(admin, run_id) == retry_token

    wait_for(status_is(executor, run_id, RunStatus.SUCCEEDED))
    assert f"CALLBACK_TOKEN={retry_token}" in executor.logs(run_id)
    # The old Pod goes with its Job (background propagation); it never counted for the new run.
    wait_for(lambda: old_pod.metadata.name not in {p.metadata.name for p in pods_of(admin, run_id)})
    assert all(p["metadata"]["name"] != old_pod.metadata.name for p in executor.runs.pods(run_id))


def test_starting_an_active_run_again_returns_its_job(
    admin: ApiClient, executor: KubernetesExecutor
) -> None:
    run_id = "job-twice"
    try:
        first = executor.start(launch(run_id, seconds=300))
        uid = BatchV1Api(admin).read_namespaced_job(job_name(run_id), NS).metadata.uid
        wait_for(status_is(executor, run_id, RunStatus.RUNNING))

        again = executor.start(launch(run_id, seconds=300))
        assert again is first and again.status == RunStatus.RUNNING
        assert BatchV1Api(admin).read_namespaced_job(job_name(run_id), NS).metadata.uid == uid
        secret = CoreV1Api(admin).read_namespaced_secret(secret_name(run_id), NS)
        assert [owner.uid for owner in secret.metadata.owner_references] == [uid]
        assert len(pods_of(admin, run_id)) == 1
    finally:
        executor.stop(run_id, grace_seconds=0)


def test_late_news_of_a_replaced_job_leave_the_new_run_alone() -> None:
    """The watches may bring the old Job's last events, its deletion among them, after the
    new Job was started, and its Pods until they are collected: none of it is the new run's.

    No cluster: the order of watch events is fed by hand, since a real server's order on one
    machine cannot be steered into every interleaving.
    """
    run_id, labels = "job-late", run_labels("job-late", "toy", "shapes")

    def obj(uid: str, status: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": f"{job_name(run_id)}-{uid}", "uid": uid, "labels": labels}
        if owner:
            meta["ownerReferences"] = [{"kind": "Job", "uid": owner, "controller": True}]
        return {"metadata": meta, "status": status}

    failed = {
        "failed": 1,
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    }
    terminated = {
        "phase": "Failed",
        "containerStatuses": [
            {"name": "train", "state": {"terminated": {"reason": "Error", "exitCode": 1}}}
        ],
    }
    table = RunTable("toy")
    old = obj("old", failed)
    table.apply("job", "ADDED", old)
    assert table.get(run_id) is not None and table.get(run_id).status == RunStatus.FAILED
    table.retire(run_id, "old")
    info = table.started(run_id, obj("new", {}))
    table.apply("job", "MODIFIED", old)
    table.apply("job", "DELETED", old)
    table.apply("pod", "ADDED", obj("old-pod", terminated, owner="old"))
    assert table.get(run_id) is info
    assert (info.status, info.reason, table.pods(run_id)) == (RunStatus.PENDING, None, [])
    table.apply("pod", "ADDED", obj("new-pod", {"phase": "Running"}, owner="new"))
    assert info.status == RunStatus.RUNNING


def test_a_retry_is_refused_when_the_old_job_does_not_go(
    cluster: ControlPlane, admin: ApiClient
) -> None:
    """A finalizer holds the finished Job after its deletion, so its name never frees."""
    run_id = "job-held"
    name = job_name(run_id)
    batch = BatchV1Api(admin)
    executor = KubernetesExecutor(
        KubernetesSettings(),
        "toy",
        cluster.service_client(),
        request_timeout=5,
        watch_timeout=1,
        replace_timeout=0.5,
    ).open()
    try:
        executor.start(launch(run_id, exit=1))
        wait_for(status_is(executor, run_id, RunStatus.FAILED))
        hold = {"metadata": {"finalizers": ["test.trainyard.io/hold"]}}
        batch.patch_namespaced_job(name, NS, hold, _content_type=MERGE_PATCH)
        began = time.monotonic()
        with pytest.raises(ClusterRefused, match="did not free"):
            executor.start(launch(run_id, exit=0))
        assert 0.5 <= time.monotonic() - began < 5
        held = batch.read_namespaced_job(name, NS)
        assert held.metadata.deletion_timestamp is not None  # deleted, and still there
    finally:
        release = {"metadata": {"finalizers": None}}
        batch.patch_namespaced_job(name, NS, release, _content_type=MERGE_PATCH)
        executor.close()
    wait_for(lambda: job_gone(admin, run_id))
