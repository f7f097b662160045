"""KubernetesExecutor through the official client against an API emulator (kmock).

The tests play the Job controller and the kubelet: they create the Job's Pod and write Job and
Pod status through the API, and the executor's watches must turn that into RunInfo.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import kmock
import pytest
from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api

from trainyard_servicekit.executors import RunInfo, RunNotFound, RunStatus
from trainyard_servicekit.executors.kubernetes.executor import (
    ClusterRefused,
    ClusterUnreachable,
    KubernetesExecutor,
)
from trainyard_servicekit.executors.kubernetes.job import KubernetesSettings, job_name, run_labels
from trainyard_servicekit.executors.kubernetes.runs import RunTable

from .emulator import EmulatedCluster
from .jobs import TOKEN, launch

NS = "training"


def emulate_replace(cluster: EmulatedCluster) -> None:
    """PUT (replace) of a Secret, which kmock does not know (it answers 404, no such endpoint).

    The stored object becomes the body sent, keeping its uid and creation time, as on a real
    API server; a Secret that does not exist is a 404.
    """
    assert cluster.handler is not None
    objects = cluster.handler.objects

    def replace(request: kmock.Request) -> dict[str, Any]:
        key = (request.resource, request.namespace, request.name)
        if key not in objects or objects[key].deleted:
            raise kmock.KubernetesObjectNotFoundError()
        old = objects[key].raw["metadata"]
        body = dict(request.data)
        body["metadata"] = {
            **body["metadata"],
            "uid": old["uid"],
            "creationTimestamp": old["creationTimestamp"],
        }
        objects[key].delete()  # then a new version: the whole object, not a merge
        objects[key].create(body)
        return dict(objects[key].raw)

    cluster.on(("put", re.compile(r"/api/v1/namespaces/[^/]+/secrets/[^/]+")), replace)


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmulatedCluster]:
    with EmulatedCluster() as running:
        emulate_replace(running)
        yield running


@pytest.fixture(scope="module")
def driver(cluster: EmulatedCluster) -> Iterator[ApiClient]:
    """The test's own client: the Job controller's and kubelet's side of the API."""
    client = cluster.client()
    yield client
    client.close()


def new_executor(cluster: EmulatedCluster) -> KubernetesExecutor:
    return KubernetesExecutor(
        KubernetesSettings(), "toy", cluster.client(), request_timeout=2, watch_timeout=0.5
    ).open()


@pytest.fixture
def executor(cluster: EmulatedCluster) -> Iterator[KubernetesExecutor]:
    ex = new_executor(cluster)
    yield ex
    ex.close()


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def add_pod(driver: ApiClient, run_id: str, status: dict[str, Any], suffix: str = "abcde") -> str:
    job = BatchV1Api(driver).read_namespaced_job(job_name(run_id), NS)
    name = f"{job_name(run_id)}-{suffix}"
    # Owned by its Job, as the Job controller makes them.
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job.metadata.name}
    owner |= {"uid": job.metadata.uid, "controller": True, "blockOwnerDeletion": True}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": job.spec.template.metadata.labels,
            "ownerReferences": [owner],
        },
        "spec": driver.sanitize_for_serialization(job.spec.template.spec),
        "status": status,
    }
    CoreV1Api(driver).create_namespaced_pod(NS, pod)
    return name


def set_pod(driver: ApiClient, name: str, status: dict[str, Any]) -> None:
    CoreV1Api(driver).patch_namespaced_pod_status(name, NS, {"status": status})


def set_job(driver: ApiClient, run_id: str, status: dict[str, Any]) -> None:
    BatchV1Api(driver).patch_namespaced_job_status(job_name(run_id), NS, {"status": status})


def failed(reason: str, message: str = "") -> dict[str, Any]:
    cond = {"type": "Failed", "status": "True", "reason": reason, "message": message}
    return {"failed": 1, "conditions": [cond]}


def container(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The kubelet's report on the train container."""
    return [
        {
            "name": "train",
            "image": "ghcr.io/trainyard/toy:0.1.0",
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": state,
        }
    ]


def terminated(reason: str, code: int) -> dict[str, Any]:
    state = {"terminated": {"reason": reason, "exitCode": code}}
    return {"phase": "Failed", "containerStatuses": container(state)}


def test_start_creates_job_then_owned_secret_and_follows_to_success(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    info = executor.start(launch("job-ok"))
    assert info.status == RunStatus.PENDING and info.executor == "kubernetes"
    job = BatchV1Api(driver).read_namespaced_job(job_name("job-ok"), NS)
    secret = CoreV1Api(driver).read_namespaced_secret(f"{job_name('job-ok')}-callback", NS)
    (owner,) = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Job", job.metadata.name, job.metadata.uid)
    assert secret.string_data == {"callback-token": TOKEN}
    creates = [r.url.path for r in cluster.requests if r.action == kmock.action.CREATE]
    assert creates.index(f"/apis/batch/v1/namespaces/{NS}/jobs") < creates.index(
        f"/api/v1/namespaces/{NS}/secrets"
    )

    pod = add_pod(driver, "job-ok", {"phase": "Pending"})
    set_pod(driver, pod, {"phase": "Running"})
    wait_for(lambda: executor.status("job-ok").status == RunStatus.RUNNING)
    set_job(driver, "job-ok", {"conditions": [{"type": "Complete", "status": "True"}]})
    wait_for(lambda: executor.status("job-ok").status == RunStatus.SUCCEEDED)
    assert executor.status("job-ok").ended_at is not None
    assert executor.running_count() == 0


PENDING_CASES = {
    "unschedulable": (
        {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
                }
            ],
        },
        "unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
    ),
    "image-pull": (
        {
            "phase": "Pending",
            "containerStatuses": container(
                {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
            ),
        },
        "image pull failed (ImagePullBackOff): pull access denied",
    ),
}


@pytest.mark.parametrize("case", PENDING_CASES)
def test_pending_runs_say_why(driver: ApiClient, executor: KubernetesExecutor, case: str) -> None:
    run_id = f"job-pending-{case}"
    executor.start(launch(run_id))
    add_pod(driver, run_id, PENDING_CASES[case][0])
    wait_for(lambda: executor.status(run_id).reason is not None)
    info = executor.status(run_id)
    assert (info.status, info.reason) == (RunStatus.PENDING, PENDING_CASES[case][1])


FAILURE_CASES = {
    "oom": (
        terminated("OOMKilled", 137),
        failed("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        "backoff limit exceeded: the pod failed 1 time(s); out of memory (OOMKilled): "
        "the container exceeded its memory limit of 3Gi; ask for more resources.memory",
    ),
    "deadline": (
        {"phase": "Running"},
        failed("DeadlineExceeded", "Job was active longer than specified deadline"),
        "deadline exceeded: ran longer than 86400s",
    ),
    "crash": (
        terminated("Error", 3),
        failed("BackoffLimitExceeded"),
        "backoff limit exceeded: the pod failed 1 time(s); "
        "the container exited with code 3 (Error)",
    ),
    "evicted": (
        {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: memory.",
        },
        failed("BackoffLimitExceeded"),
        "backoff limit exceeded: the pod failed 1 time(s); "
        "evicted: The node was low on resource: memory.",
    ),
}


# The machine-readable reason and the out-of-memory flag the gateway copies into the job.
FAILURE_REASONS = {
    "oom": ("oom_killed", True),
    "deadline": ("deadline_exceeded", False),
    "crash": ("process_exited", False),
    "evicted": ("evicted", False),
}


@pytest.mark.parametrize("case", FAILURE_CASES)
def test_failures_say_why(driver: ApiClient, executor: KubernetesExecutor, case: str) -> None:
    pod_status, job_status, reason = FAILURE_CASES[case]
    run_id = f"job-fail-{case}"
    executor.start(launch(run_id))
    add_pod(driver, run_id, pod_status)
    set_job(driver, run_id, job_status)
    wait_for(lambda: executor.status(run_id).finished)
    # Jobs and Pods come on separate watches: the Pod's account may land just after the end.
    wait_for(lambda: executor.status(run_id).failure_reason == FAILURE_REASONS[case][0])
    info = executor.status(run_id)
    assert (info.status, info.reason) == (RunStatus.FAILED, reason)
    assert (info.failure_reason, info.oom) == FAILURE_REASONS[case]


def test_logs_come_from_the_pod(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    executor.start(launch("job-logs"))
    assert executor.logs("job-logs") == []  # no pod yet
    pod = add_pod(driver, "job-logs", {"phase": "Running"})
    cluster.on(("get", f"/api/v1/namespaces/{NS}/pods/{pod}/log"), b"epoch 1\nepoch 2\n")
    wait_for(lambda: executor.status("job-logs").status == RunStatus.RUNNING)
    assert executor.logs("job-logs", tail=2) == ["epoch 1", "epoch 2"]
    query = [r for r in cluster.requests if r.url.path.endswith("/log")][-1].url.query
    assert query["tailLines"] == "2" and query["container"] == "train"
    with pytest.raises(RunNotFound):
        executor.logs("job-unknown")


def test_follow_logs_streams_the_pod_log(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    executor.start(launch("job-follow"))
    assert list(executor.follow_logs("job-follow")) == []  # no pod yet
    pod = add_pod(driver, "job-follow", {"phase": "Running"})
    cluster.on(("get", f"/api/v1/namespaces/{NS}/pods/{pod}/log"), b"epoch 1\nepoch 2\ndone")
    wait_for(lambda: executor.status("job-follow").status == RunStatus.RUNNING)
    assert list(executor.follow_logs("job-follow", tail=10)) == ["epoch 1", "epoch 2", "done"]
    query = [r for r in cluster.requests if r.url.path.endswith("/log")][-1].url.query
    assert query["follow"].lower() == "true" and query["tailLines"] == "10"


def test_stop_deletes_the_job_in_the_foreground(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    executor.start(launch("job-stop"))
    add_pod(driver, "job-stop", {"phase": "Running"})
    wait_for(lambda: executor.status("job-stop").status == RunStatus.RUNNING)
    info = executor.stop("job-stop", grace_seconds=7)
    assert info.stop_requested
    (delete,) = [
        r for r in cluster.requests if r.action == kmock.action.DELETE and "job-stop" in r.url.path
    ]
    assert delete.data["propagationPolicy"] == "Foreground"
    assert delete.data["gracePeriodSeconds"] == 7
    wait_for(lambda: executor.status("job-stop").status == RunStatus.STOPPED)


def job_deletes(cluster: EmulatedCluster, run_id: str) -> list[kmock.Request]:
    path = f"/apis/batch/v1/namespaces/{NS}/jobs/{job_name(run_id)}"
    return [r for r in cluster.requests if r.action == kmock.action.DELETE and r.url.path == path]


def test_a_retry_after_a_failure_gets_a_new_job(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    """The gateway retries a failed job with the same run id: a new Job must run it.

    The emulator removes a deleted object at once and garbage-collects nothing: the name is
    free right after the delete (no 409 to wait through) and the old Pod stays. So this checks
    the delete that is sent, the new Job and Secret, and that nothing of the old Job (its
    deletion, its Pod) leaks into the new run.
    """
    run_id = "job-retry"
    batch, core = BatchV1Api(driver), CoreV1Api(driver)
    executor.start(launch(run_id))
    old = batch.read_namespaced_job(job_name(run_id), NS)
    old_pod = add_pod(driver, run_id, terminated("Error", 1))
    set_job(driver, run_id, failed("BackoffLimitExceeded"))
    wait_for(lambda: executor.status(run_id).status == RunStatus.FAILED)

    retry_token = "callback-token-of-the-retry"
    info = executor.start(launch(run_id, token=retry_token))
    assert (info.status, info.reason, info.finished) == (RunStatus.PENDING, None, False)
    new = batch.read_namespaced_job(job_name(run_id), NS)
    assert new.metadata.uid != old.metadata.uid
    (delete,) = job_deletes(cluster, run_id)
    assert delete.data["propagationPolicy"] == "Background"
    assert delete.data["preconditions"] == {"uid": old.metadata.uid}
    secret = core.read_namespaced_secret(f"{job_name(run_id)}-callback", NS)
    (owner,) = secret.metadata.owner_references
    assert (owner.name, owner.uid) == (new.metadata.name, new.metadata.uid)
    assert secret.string_data == {"callback-token": retry_token}

    # The old Pod (still listed here) is not the new run's.
    new_pod = add_pod(driver, run_id, {"phase": "Pending"}, suffix="fghij")
    executor.list()
    wait_for(lambda: [p["metadata"]["name"] for p in executor.runs.pods(run_id)] == [new_pod])
    assert old_pod != new_pod
    assert executor.status(run_id).status == RunStatus.PENDING
    # The Job watch brings the old Job's deletion before the new Job's news: once the run is
    # seen running, that deletion has been read, and it did not end the new run.
    set_pod(driver, new_pod, {"phase": "Running"})
    set_job(driver, run_id, {"active": 1, "ready": 1})
    wait_for(lambda: executor.status(run_id).status == RunStatus.RUNNING)
    set_job(driver, run_id, {"conditions": [{"type": "Complete", "status": "True"}]})
    wait_for(lambda: executor.status(run_id).status == RunStatus.SUCCEEDED)


def test_starting_an_active_run_again_returns_its_job(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    run_id = "job-twice"
    first = executor.start(launch(run_id))
    uid = BatchV1Api(driver).read_namespaced_job(job_name(run_id), NS).metadata.uid
    add_pod(driver, run_id, {"phase": "Running"})
    wait_for(lambda: executor.status(run_id).status == RunStatus.RUNNING)

    again = executor.start(launch(run_id))
    assert again is first and again.status == RunStatus.RUNNING
    assert BatchV1Api(driver).read_namespaced_job(job_name(run_id), NS).metadata.uid == uid
    assert job_deletes(cluster, run_id) == []
    secret = CoreV1Api(driver).read_namespaced_secret(f"{job_name(run_id)}-callback", NS)
    assert [owner.uid for owner in secret.metadata.owner_references] == [uid]


def test_late_news_of_a_replaced_job_leave_the_new_run_alone() -> None:
    """The watches may bring the old Job's last events, its deletion among them, after the
    new Job was started, and its Pods until they are collected: none of it is the new run's.

    (The emulator happens to deliver the deletion first; a real cluster's watch may be late.)
    """
    run_id, labels = "job-late", run_labels("job-late", "toy", "shapes")

    def obj(uid: str, status: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": f"{job_name(run_id)}-{uid}", "uid": uid, "labels": labels}
        if owner:
            meta["ownerReferences"] = [{"kind": "Job", "uid": owner, "controller": True}]
        return {"metadata": meta, "status": status}

    table = RunTable("toy")
    old = obj("old", failed("BackoffLimitExceeded"))
    table.apply("job", "ADDED", old)
    assert table.get(run_id) is not None and table.get(run_id).status == RunStatus.FAILED
    table.retire(run_id, "old")
    info = table.started(run_id, obj("new", {}))
    table.apply("job", "MODIFIED", old)
    table.apply("job", "DELETED", old)
    table.apply("pod", "ADDED", obj("old-pod", terminated("Error", 1), owner="old"))
    assert table.get(run_id) is info
    assert (info.status, info.reason, table.pods(run_id)) == (RunStatus.PENDING, None, [])
    table.apply("pod", "ADDED", obj("new-pod", {"phase": "Running"}, owner="new"))
    assert info.status == RunStatus.RUNNING


def test_a_retry_is_refused_when_the_old_job_does_not_go(
    cluster: EmulatedCluster, driver: ApiClient
) -> None:
    """A finalizer holds the finished Job after its deletion, so its name never frees.

    (The emulator, like a real API server, keeps a deleted object while it has finalizers.)
    """
    run_id = "job-held"
    name = job_name(run_id)
    batch = BatchV1Api(driver)
    executor = KubernetesExecutor(
        KubernetesSettings(), "toy", cluster.client(), request_timeout=2, replace_timeout=0.5
    )
    try:
        executor.start(launch(run_id))
        set_job(driver, run_id, failed("BackoffLimitExceeded"))
        batch.patch_namespaced_job(name, NS, {"metadata": {"finalizers": ["test.io/hold"]}})
        began = time.monotonic()
        with pytest.raises(ClusterRefused, match="did not free"):
            executor.start(launch(run_id))
        assert 0.5 <= time.monotonic() - began < 5
        assert len(job_deletes(cluster, run_id)) == 1
    finally:
        batch.patch_namespaced_job(name, NS, {"metadata": {"finalizers": []}})
        executor.close()


def test_a_new_executor_finds_the_runs_again(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    executor.start(launch("job-again"))
    add_pod(driver, "job-again", {"phase": "Running"})
    later = new_executor(cluster)  # a restarted service
    try:
        runs: dict[str, RunInfo] = {run.run_id: run for run in later.list()}
        assert runs["job-again"].status == RunStatus.RUNNING
        assert later.status("job-again").status == RunStatus.RUNNING
        with pytest.raises(RunNotFound):
            later.status("job-never-started")
    finally:
        later.close()


def test_a_restarted_service_finds_an_oom_killed_run_with_its_reason(
    cluster: EmulatedCluster, driver: ApiClient, executor: KubernetesExecutor
) -> None:
    executor.start(launch("job-oom-again"))
    add_pod(driver, "job-oom-again", terminated("OOMKilled", 137))
    set_job(driver, "job-oom-again", failed("BackoffLimitExceeded"))
    wait_for(lambda: executor.status("job-oom-again").finished)
    later = new_executor(cluster)  # the service restarted after the run ended
    try:
        # Found by its labels through the watches, with what its pod said: the Job's watch
        # may come first, ending the run; its Pod's then completes the account.
        def found() -> bool:
            info = later.runs.get("job-oom-again")
            return info is not None and info.failure_reason == "oom_killed"

        wait_for(found)
        for info in (later.runs.get("job-oom-again"), later.status("job-oom-again")):
            assert info is not None and info.status == RunStatus.FAILED
            assert (info.failure_reason, info.oom, info.signal) == ("oom_killed", True, 9)
            assert info.reason is not None and "OOMKilled" in info.reason
    finally:
        later.close()


def test_other_frameworks_jobs_are_not_ours(cluster: EmulatedCluster) -> None:
    timm = KubernetesExecutor(KubernetesSettings(), "timm", cluster.client(), request_timeout=2)
    try:
        timm.start(launch("job-timm", framework="timm"))
        toy = new_executor(cluster)
        try:
            assert "job-timm" not in {run.run_id for run in toy.list()}
        finally:
            toy.close()
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
