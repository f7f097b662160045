"""The Kubernetes objects of one run: a batch/v1 Job and the Secret holding its callback token.

Plain dicts in the API's own (camelCase) form: what `kubectl apply` and the schema validators
read, and what the official client sends as is. Building them needs no cluster.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trainyard_runtime.run_environment import RunVariable
from trainyard_servicekit.executors.base import LaunchSpec
from trainyard_servicekit.executors.cpu_threads import pod_thread_settings
from trainyard_servicekit.executors.kubernetes.distributed import make_indexed
from trainyard_servicekit.executors.kubernetes.names import CONTAINER, job_name
from trainyard_servicekit.executors.kubernetes.settings import KubernetesSettings
from trainyard_servicekit.executors.launch_command import local_command

LABEL_JOB_ID = "trainyard.io/job-id"
LABEL_FRAMEWORK = "trainyard.io/framework"
LABEL_PROJECT = "trainyard.io/project"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "trainyard"
WORK_DIR = "/workspace"
DEV_CODE_DIR = "/opt/trainyard/dev"
TOKEN_KEY = "callback-token"  # noqa: S105 - a key name, not a secret
HF_TOKEN_KEY = str(RunVariable.HF_TOKEN)  # the key in the Secret KUBERNETES_HF_TOKEN_SECRET names
# Run variables a Job never holds as plain text: they come from Secrets by reference.
SECRET_VARIABLES = frozenset({str(RunVariable.CALLBACK_TOKEN), str(RunVariable.HF_TOKEN)})


def secret_name(run_id: str) -> str:
    return f"{job_name(run_id)}-callback"


def label_value(value: str) -> str:
    """Label values: <= 63 of [A-Za-z0-9_.-], beginning and ending alphanumeric."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)[:63]
    return cleaned.strip("-_.")


def run_labels(run_id: str, framework: str, project: str) -> dict[str, str]:
    return {
        LABEL_JOB_ID: label_value(run_id),
        LABEL_FRAMEWORK: label_value(framework),
        LABEL_PROJECT: label_value(project),
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def framework_selector(framework: str) -> str:
    return f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_FRAMEWORK}={label_value(framework)}"


def cpu_quantity(cpu: float) -> str:
    millis = round(cpu * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _env(launch: LaunchSpec, settings: KubernetesSettings) -> list[dict[str, Any]]:
    run_env = launch.environment.placed(Path(WORK_DIR)).to_env()
    threads = pod_thread_settings(launch.spec.resources.cpu, launch.ranks_per_node)
    env: list[dict[str, Any]] = [
        {"name": key, "value": value}
        for key, value in sorted({**threads, **run_env}.items())
        if key not in SECRET_VARIABLES and value != ""
    ]
    # Never copied into the Job as plain text: the token lives in the per-run Secret.
    env.append(
        {
            "name": str(RunVariable.CALLBACK_TOKEN),
            "valueFrom": {"secretKeyRef": {"name": secret_name(launch.run_id), "key": TOKEN_KEY}},
        }
    )
    if settings.hf_token_secret:
        secret = {"name": settings.hf_token_secret, "key": HF_TOKEN_KEY, "optional": True}
        env.append({"name": str(RunVariable.HF_TOKEN), "valueFrom": {"secretKeyRef": secret}})
    if settings.dev_code_configmap:
        env.append({"name": "PYTHONPATH", "value": DEV_CODE_DIR})
    return env


def _env_from(settings: KubernetesSettings) -> list[dict[str, Any]]:
    # optional: a cluster without object storage credentials still runs jobs on file:// storage
    env_from: list[dict[str, Any]] = []
    if settings.storage_configmap:
        env_from.append({"configMapRef": {"name": settings.storage_configmap, "optional": True}})
    if settings.storage_secret:
        env_from.append({"secretRef": {"name": settings.storage_secret, "optional": True}})
    return env_from


def _volumes(module: str, settings: KubernetesSettings) -> tuple[list[dict], list[dict]]:
    volumes: list[dict[str, Any]] = [
        {"name": "workspace", "emptyDir": {}},
        # PyTorch data loader workers share tensors through /dev/shm; the default is 64Mi.
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": settings.shm_size}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "workspace", "mountPath": WORK_DIR},
        {"name": "dshm", "mountPath": "/dev/shm"},  # noqa: S108 - a pod-private mount
    ]
    if settings.dev_code_configmap:
        package = module.split(".")[0]
        volumes.append({"name": "dev-code", "configMap": {"name": settings.dev_code_configmap}})
        # PYTHONPATH puts this folder first, so its package shadows the one in the image.
        mounts.append(
            {"name": "dev-code", "mountPath": f"{DEV_CODE_DIR}/{package}", "readOnly": True}
        )
    return volumes, mounts


def build_job(launch: LaunchSpec, settings: KubernetesSettings) -> dict[str, Any]:
    """The batch/v1 Job that runs `python -m <module>` for this launch: in one pod (the
    distributed launcher in front on one node with several processes), or an Indexed Job of
    one pod per node (distributed.py)."""
    spec = launch.spec
    labels = run_labels(launch.run_id, spec.framework, spec.project)
    gpus = settings.default_gpus if spec.resources.gpu is None else spec.resources.gpu
    limits = {"cpu": cpu_quantity(spec.resources.cpu), "memory": spec.resources.memory}
    if gpus > 0:
        limits["nvidia.com/gpu"] = str(gpus)
    volumes, mounts = _volumes(launch.module, settings)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.image_for(spec.framework),
        "imagePullPolicy": settings.image_pull_policy,
        "command": local_command("python", launch),
        "workingDir": WORK_DIR,
        "env": _env(launch, settings),
        "envFrom": _env_from(settings),
        "resources": {"requests": dict(limits), "limits": limits},
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,  # train.py never talks to the API server
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.termination_grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "fsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    if gpus > 0:
        if settings.gpu_node_selector:
            pod_spec["nodeSelector"] = dict(settings.gpu_node_selector)
        if settings.gpu_tolerations:
            pod_spec["tolerations"] = [dict(t) for t in settings.gpu_tolerations]
    annotations = {"trainyard.io/job-name": spec.name} if spec.name else {}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(launch.run_id),
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "backoffLimit": settings.backoff_limit,
            "activeDeadlineSeconds": settings.active_deadline_seconds,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }
    if spec.distributed.nodes > 1:
        make_indexed(job, launch)
    return job


def build_callback_secret(
    launch: LaunchSpec, job: dict[str, Any], job_uid: str, token: str
) -> dict[str, Any]:
    """The run's callback token, owned by its Job so it goes when the Job goes."""
    meta = job["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name(launch.run_id),
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
        "stringData": {TOKEN_KEY: token},
    }
