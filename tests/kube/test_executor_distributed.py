"""A run over two nodes against the real control plane: an Indexed Job, its headless Service and
its pod failure policy, as the API server, the Job controller and the garbage collector see them.

The simulated kubelet's image has no torch (the test interpreter stands for it), so each pod's
launcher fails at once when it would start torchrun: the failing pods the pod failure policy is
about. Training over two nodes itself is run by test_two_nodes_locally.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from trainyard_servicekit.executors import LaunchSpec, RunStatus
from trainyard_servicekit.executors.kubernetes.distributed import (
    COMPLETION_INDEX_ANNOTATION,
    service_name,
)
from trainyard_servicekit.executors.kubernetes.executor import KubernetesExecutor
from trainyard_servicekit.executors.kubernetes.job import (
    KubernetesSettings,
    build_callback_secret,
    build_job,
    job_name,
)

from .controlplane import NAMESPACE as NS
from .executor_support import pods_of, status_is, wait_for
from .jobs import TOKEN, launch

RUN = "job-two-pods"
SPEAKING = "job-rank-zero-speaks"


def service_gone(admin: ApiClient) -> bool:
    try:
        CoreV1Api(admin).read_namespaced_service(service_name(RUN), NS)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_an_indexed_job_of_two_pods_fails_as_a_whole_and_takes_its_service_along(
    admin: ApiClient, executor: KubernetesExecutor
) -> None:
    run = launch(RUN, distributed={"nodes": 2})
    # No gateway answers here: the launcher gives up on its last report after a second.
    run = LaunchSpec(
        run.module,
        replace(run.environment, final_delivery_timeout=1.0),
        ranks_per_node=run.ranks_per_node,
    )
    executor.start(run)
    job = BatchV1Api(admin).read_namespaced_job(job_name(RUN), NS)
    assert (job.spec.completion_mode, job.spec.completions, job.spec.parallelism) == (
        "Indexed",
        2,
        2,
    )
    service = CoreV1Api(admin).read_namespaced_service(service_name(RUN), NS)
    assert service.spec.cluster_ip == "None"
    (owner,) = service.metadata.owner_references
    assert (owner.kind, owner.uid) == ("Job", job.metadata.uid)

    wait_for(lambda: len(pods_of(admin, RUN)) == 2)
    pods = {p.metadata.annotations[COMPLETION_INDEX_ANNOTATION]: p for p in pods_of(admin, RUN)}
    assert sorted(pods) == ["0", "1"]
    for index, pod in pods.items():
        assert pod.spec.subdomain == service_name(RUN)
        assert pod.spec.hostname == f"{job_name(RUN)}-{index}"  # pod 0: <job>-0.<service>

    wait_for(status_is(executor, RUN, RunStatus.FAILED), timeout=120)

    def failed_by_the_policy() -> bool:
        job = BatchV1Api(admin).read_namespaced_job(job_name(RUN), NS)
        return any(
            (c.type, c.status, c.reason) == ("Failed", "True", "PodFailurePolicy")
            for c in job.status.conditions or []
        )

    wait_for(failed_by_the_policy)
    # Pod 0's launcher got node rank 0 from its completion index and spoke for the group.
    log = CoreV1Api(admin).read_namespaced_pod_log(pods["0"].metadata.name, NS)
    assert "2 processes (2 node(s) x 1) of toy_framework.train" in log, log

    # The finished Job goes (as ttlSecondsAfterFinished would delete it): its Service goes too.
    BatchV1Api(admin).delete_namespaced_job(job_name(RUN), NS, propagation_policy="Foreground")
    wait_for(lambda: service_gone(admin), timeout=120)


def test_the_log_is_rank_zeros_and_a_failed_pod_is_named_by_its_node_rank(
    admin: ApiClient, executor: KubernetesExecutor, tmp_path: Path
) -> None:
    """The executor's Indexed Job, each pod running the test workload in place of the launcher
    (no torch here) with steps by its completion index: node 1 fails once the test lets it."""
    let_go = tmp_path / "node-1-fails"
    run = launch(
        SPEAKING,
        distributed={"nodes": 2},
        seconds=120,
        output="node 0 speaks for the group\\n",
        per_node={
            "1": {"output": "node 1 line\\n", "hold_file": str(let_go), "seconds": 0, "exit": 3}
        },
    )
    job = build_job(run, KubernetesSettings())
    job["spec"]["template"]["spec"]["containers"][0]["command"] = ["python", "-m", "kube.workload"]
    created = BatchV1Api(admin).create_namespaced_job(NS, job)
    secret = build_callback_secret(run, job, created.metadata.uid, TOKEN)
    CoreV1Api(admin).create_namespaced_secret(NS, secret)
    try:
        wait_for(status_is(executor, SPEAKING, RunStatus.RUNNING))
        wait_for(lambda: "node 0 speaks for the group" in executor.logs(SPEAKING))
        assert executor.logs(SPEAKING) == ["node 0 speaks for the group"]
        follow = executor.follow_logs(SPEAKING)
        assert next(follow) == "node 0 speaks for the group"
        follow.close()

        let_go.touch()
        wait_for(status_is(executor, SPEAKING, RunStatus.FAILED), timeout=120)
        info = executor.status(SPEAKING)
        # Node 1's exit failed the Job; node 0, stopped by the Job controller, is not blamed.
        assert info.exit_code == 3, info.reason
        assert info.reason is not None and "PodFailurePolicy" in info.reason
        assert f"; node rank 1 (pod {job_name(SPEAKING)}-1-" in info.reason
        assert info.reason.endswith("the container exited with code 3 (Error)"), info.reason
    finally:
        executor.stop(SPEAKING, grace_seconds=0)
