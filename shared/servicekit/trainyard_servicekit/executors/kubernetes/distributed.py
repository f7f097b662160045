"""A run over several nodes on Kubernetes: an Indexed Job, one pod per node, and the headless
Service that gives pod 0 a DNS name for the rendezvous.

This is the shape Kubernetes-native trainers generate underneath (Kubeflow Trainer's
`TrainJob` makes a JobSet of Indexed Jobs the same way): completions = parallelism = nodes,
`JOB_COMPLETION_INDEX` as each pod's node rank, `<job>-0.<service>` as the master address, and
a pod failure policy that fails the whole Job as soon as any pod fails, so a lost rank ends
the group and a retry restarts all of it from the last checkpoint (docs/kubernetes.md).
"""

from __future__ import annotations

from typing import Any

from trainyard_servicekit.executors.base import LaunchSpec
from trainyard_servicekit.executors.kubernetes.names import CONTAINER, job_name
from trainyard_servicekit.executors.launch_command import (
    RELAY_PORT,
    RENDEZVOUS_PORT,
    node_command,
)

COMPLETION_INDEX = "JOB_COMPLETION_INDEX"
# The Job controller writes a pod's index under this key as an annotation, and (Kubernetes
# 1.28 on) as a label too.
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def completion_index(pod: dict[str, Any]) -> int | None:
    """A pod's index in its Indexed Job (its node rank); None for a pod of a plain Job."""
    meta = pod.get("metadata") or {}
    for where in ("labels", "annotations"):
        value = (meta.get(where) or {}).get(COMPLETION_INDEX_ANNOTATION)
        if value is not None and str(value).isdigit():
            return int(value)
    return None


def speaking_pod(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The pod whose log is the run's: node rank 0's in an Indexed Job (its launcher speaks for
    the group), else (a plain Job) the newest."""
    first = [pod for pod in pods if completion_index(pod) == 0]
    return newest(first or pods)


def newest(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not pods:
        return None
    return max(pods, key=lambda p: str(p.get("metadata", {}).get("creationTimestamp") or ""))


def service_name(run_id: str) -> str:
    """The headless Service of a run: the Job's own name (a DNS-1035 label, `trainyard-…`)."""
    return job_name(run_id)


def master_address(run_id: str) -> str:
    """Pod 0's DNS name: an Indexed Job's pod is `<job>-<index>`, its subdomain the Service."""
    return f"{job_name(run_id)}-0.{service_name(run_id)}"


def make_indexed(job: dict[str, Any], launch: LaunchSpec) -> dict[str, Any]:
    """Turn the run's one-pod Job into one pod per node (in place); returns it."""
    nodes = launch.spec.distributed.nodes
    spec = job["spec"]
    spec.update(
        completionMode="Indexed",
        completions=nodes,
        parallelism=nodes,
        # Any failed pod fails the Job at once (podFailurePolicy), never restarted alone.
        backoffLimit=0,
        podFailurePolicy={
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "NotIn",
                        "values": [0],
                    },
                },
                {
                    "action": "FailJob",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
            ]
        },
    )
    pod = spec["template"]["spec"]
    pod["subdomain"] = service_name(launch.run_id)
    container = pod["containers"][0]
    container["command"] = node_command(
        "python",
        launch,
        f"$({COMPLETION_INDEX})",  # expanded by the kubelet from the variable below
        master_address(launch.run_id),
    )
    container["env"].append(
        {
            "name": COMPLETION_INDEX,
            "valueFrom": {
                "fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX_ANNOTATION}']"}
            },
        }
    )
    container["ports"] = [
        {"name": "rendezvous", "containerPort": RENDEZVOUS_PORT},
        {"name": "relay", "containerPort": RELAY_PORT},
    ]
    return job


def build_service(launch: LaunchSpec, job: dict[str, Any], job_uid: str) -> dict[str, Any]:
    """The headless Service for the pods' DNS names, owned by the Job: it goes with it."""
    meta = job["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(launch.run_id),
            "namespace": meta["namespace"],
            "labels": dict(meta["labels"]),
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": meta["name"],
                    "uid": job_uid,
                    "controller": False,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {
            "clusterIP": "None",
            # Pod 0 must resolve before it is Ready: the other pods rendezvous with it then.
            "publishNotReadyAddresses": True,
            "selector": dict(job["spec"]["template"]["metadata"]["labels"]),
            "ports": [
                {"name": "rendezvous", "port": RENDEZVOUS_PORT, "targetPort": RENDEZVOUS_PORT},
                {"name": "relay", "port": RELAY_PORT, "targetPort": RELAY_PORT},
            ],
        },
    }
