"""KubernetesExecutor against a real control plane: runs that do not start or do not end
well, and the reason each gives. The scheduler, the ResourceQuota admission, the simulated
kubelet and the Job controller decide every outcome; the tests only read them."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import ApiClient

from trainyard_servicekit.executors import RunStatus
from trainyard_servicekit.executors.kubernetes.executor import KubernetesExecutor

from .controlplane import NAMESPACE as NS
from .controlplane import ControlPlane
from .executor_support import new_executor, pods_of, status_is, wait_for
from .jobs import launch


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
