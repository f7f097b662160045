"""A run over two nodes against the real control plane: an Indexed Job, its headless Service and
its pod failure policy, as the API server, the Job controller and the garbage collector see them.

The simulated kubelet's image has no torch (the test interpreter stands for it), so each pod's
launcher fails at once when it would start torchrun: the failing pods the pod failure policy is
about. Training over two nodes itself is run by test_two_nodes_locally.py.
"""

from __future__ import annotations

from dataclasses import replace

from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from trainyard_servicekit.executors import LaunchSpec, RunStatus
from trainyard_servicekit.executors.kubernetes.distributed import (
    COMPLETION_INDEX_ANNOTATION,
    service_name,
)
from trainyard_servicekit.executors.kubernetes.executor import KubernetesExecutor
from trainyard_servicekit.executors.kubernetes.job import job_name

from .controlplane import NAMESPACE as NS
from .executor_support import pods_of, status_is, wait_for
from .jobs import launch

RUN = "job-two-pods"


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
