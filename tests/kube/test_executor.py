"""KubernetesExecutor against a real control plane (tests/kube/controlplane.py).

The executor holds the `trainyard-service` ServiceAccount's token, bound to the Role in
k8s/rbac.yaml: a call the Role does not grant fails. Jobs run for real as far as Kubernetes
goes — the Job controller makes their Pods, the scheduler places them, the garbage collector
removes what a deleted Job owned — and the simulated kubelet runs each Pod's command
(tests/kube/workload.py) as a local process and reports how it ended. The tests never write
a Job's status: the Job controller decides every outcome asserted here.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from trainyard_servicekit.executors import RunInfo, RunNotFound, RunStatus
from trainyard_servicekit.executors.kubernetes.executor import (
    ClusterRefused,
    ClusterUnreachable,
    KubernetesExecutor,
)
from trainyard_servicekit.executors.kubernetes.job import (
    LABEL_JOB_ID,
    KubernetesSettings,
    framework_selector,
    job_name,
    run_labels,
    secret_name,
)
from trainyard_servicekit.executors.kubernetes.runs import RunTable

from .controlplane import NAMESPACE as NS
from .controlplane import ControlPlane
from .jobs import TOKEN, launch

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture(scope="module")
def admin(cluster: ControlPlane) -> Iterator[ApiClient]:
    """Cluster admin, for the test's own reads and the odd deliberate interference."""
    client = cluster.admin_client()
    yield client
    client.close()


def new_executor(
    cluster: ControlPlane, framework: str = "toy", **settings: Any
) -> KubernetesExecutor:
    return KubernetesExecutor(
        KubernetesSettings(**settings),
        framework,
        cluster.service_client(),
        request_timeout=5,
        watch_timeout=1,
    ).open()


@pytest.fixture
def executor(cluster: ControlPlane) -> Iterator[KubernetesExecutor]:
    ex = new_executor(cluster)
    yield ex
    ex.close()


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def status_is(executor: KubernetesExecutor, run_id: str, status: RunStatus) -> Callable[[], bool]:
    return lambda: executor.status(run_id).status == status


def pods_of(admin: ApiClient, run_id: str) -> list[Any]:
    selector = f"{LABEL_JOB_ID}={run_id}"
    return CoreV1Api(admin).list_namespaced_pod(NS, label_selector=selector).items


def job_gone(admin: ApiClient, run_id: str) -> bool:
    try:
        BatchV1Api(admin).read_namespaced_job(job_name(run_id), NS)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def token_in(admin: ApiClient, run_id: str) -> str:
    secret = CoreV1Api(admin).read_namespaced_secret(secret_name(run_id), NS)
    # The API server keeps a Secret's stringData as base64 `data`, never as stringData.
    assert secret.string_data is None
    return base64.b64decode(secret.data["callback-token"]).decode()


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


def test_a_gpu_job_waits_unschedulable_while_the_gpu_node_is_full(
    admin: ApiClient, executor: KubernetesExecutor
) -> None:
    try:
        executor.start(launch("job-gpu-holder", gpu=1, seconds=300))
        wait_for(status_is(executor, "job-gpu-holder", RunStatus.RUNNING))
        (held,) = pods_of(admin, "job-gpu-holder")
        assert held.spec.node_name == "kwok-gpu"

        executor.start(launch("job-gpu-waiting", gpu=1, seconds=0))
        wait_for(lambda: executor.status("job-gpu-waiting").reason is not None)
        info = executor.status("job-gpu-waiting")
        # The scheduler's own account, from the Pod's PodScheduled condition.
        assert info.status == RunStatus.PENDING
        assert info.reason is not None and info.reason.startswith("unschedulable: 0/2 nodes")
        assert "Insufficient nvidia.com/gpu" in info.reason

        # No node has two GPUs at all.
        executor.start(launch("job-gpu-absent", gpu=2, seconds=0))
        wait_for(lambda: executor.status("job-gpu-absent").reason is not None)
        assert "Insufficient nvidia.com/gpu" in (executor.status("job-gpu-absent").reason or "")

        executor.stop("job-gpu-holder", grace_seconds=1)  # the GPU frees; the waiting job runs
        wait_for(status_is(executor, "job-gpu-waiting", RunStatus.SUCCEEDED))
    finally:
        for run_id in ("job-gpu-holder", "job-gpu-absent"):
            executor.stop(run_id, grace_seconds=0)


def test_a_request_over_the_namespace_quota_says_so(executor: KubernetesExecutor) -> None:
    """k8s/quota.yaml allows 32 CPUs in the namespace: the Pod of a 64-CPU Job is refused by
    the ResourceQuota admission, and the Job controller says why in a FailedCreate event."""
    try:
        executor.start(launch("job-over-quota", cpu=64, seconds=0))
        wait_for(lambda: executor.status("job-over-quota").reason is not None)
        info = executor.status("job-over-quota")
        assert info.status == RunStatus.PENDING
        assert info.reason is not None
        assert info.reason.startswith('pod not created: pods "trainyard-job-over-quota-')
        assert "exceeded quota: trainyard-training" in info.reason
        assert "requests.cpu=64" in info.reason
    finally:
        executor.stop("job-over-quota", grace_seconds=0)


def test_an_unknown_image_is_a_pull_failure(cluster: ControlPlane) -> None:
    """The simulated kubelet pulls nothing: an image outside ghcr.io/trainyard/ fails to
    pull, the way a registry without it would make a kubelet report it."""
    executor = new_executor(cluster, image="registry.invalid/toy:{version}")
    try:
        executor.start(launch("job-image", seconds=0))
        wait_for(lambda: executor.status("job-image").reason is not None)
        info = executor.status("job-image")
        assert info.status == RunStatus.PENDING
        assert info.reason == (
            "image pull failed (ImagePullBackOff): Back-off pulling image "
            '"registry.invalid/toy:0.1.0": not found in the simulated registry'
        )
    finally:
        executor.stop("job-image", grace_seconds=0)
        executor.close()


FAILURE_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    # launch() arguments, executor settings, the reason the run must give
    "oom": (
        {"memory": "64Mi", "allocate_mb": 200, "seconds": 60},
        {},
        "backoff limit exceeded: the pod failed 1 time(s); out of memory (OOMKilled): "
        "the container exceeded its memory limit of 64Mi; ask for more resources.memory",
    ),
    "deadline": (
        {"seconds": 120},
        {"active_deadline_seconds": 2},
        "deadline exceeded: ran longer than 2s",
    ),
    "crash": (
        {"exit": 3},
        {},
        "backoff limit exceeded: the pod failed 1 time(s); "
        "the container exited with code 3 (Error)",
    ),
    "evicted": (
        {"seconds": 120},
        {},
        "backoff limit exceeded: the pod failed 1 time(s); "
        "evicted: The node was low on resource: memory.",
    ),
    "backoff": (
        {"exit": 4},
        {"backoff_limit": 1},
        "backoff limit exceeded: the pod failed 2 time(s); "
        "the container exited with code 4 (Error)",
    ),
}

# The machine-readable reason and the out-of-memory flag the gateway copies into the job.
FAILURE_REASONS = {
    "oom": ("oom_killed", True),
    "deadline": ("deadline_exceeded", False),
    "crash": ("process_exited", False),
    "evicted": ("evicted", False),
    "backoff": ("process_exited", False),
}


@pytest.mark.parametrize("case", FAILURE_CASES)
def test_failures_say_why(cluster: ControlPlane, admin: ApiClient, case: str) -> None:
    workload, settings, reason = FAILURE_CASES[case]
    run_id = f"job-fail-{case}"
    executor = new_executor(cluster, **settings)
    try:
        executor.start(launch(run_id, **workload))
        if case == "evicted":
            wait_for(status_is(executor, run_id, RunStatus.RUNNING))
            (pod,) = pods_of(admin, run_id)
            assert cluster.kubelet is not None
            cluster.kubelet.evict(NS, pod.metadata.name, "The node was low on resource: memory.")
        wait_for(lambda: executor.status(run_id).finished)
        # Jobs and Pods come on separate watches: the Pod's account may land just after the end.
        wait_for(lambda: executor.status(run_id).failure_reason == FAILURE_REASONS[case][0])
        info = executor.status(run_id)
        assert info.status == RunStatus.FAILED
        if case == "deadline":  # the Pod the controller stopped may add how it ended
            assert info.reason is not None and info.reason.startswith(reason)
        else:
            assert info.reason == reason
        assert (info.failure_reason, info.oom) == FAILURE_REASONS[case]
        if case in ("crash", "backoff"):
            assert info.exit_code == workload["exit"]
        if case == "backoff":  # the Job controller made a second Pod, and gave up after it
            assert len(pods_of(admin, run_id)) == 2
    finally:
        executor.close()


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


def secret_gone(admin: ApiClient, run_id: str) -> bool:
    try:
        CoreV1Api(admin).read_namespaced_secret(secret_name(run_id), NS)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


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


def test_a_restarted_service_finds_an_oom_killed_run_with_its_reason(
    cluster: ControlPlane, executor: KubernetesExecutor
) -> None:
    executor.start(launch("job-oom-again", memory="64Mi", allocate_mb=200, seconds=60))
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
