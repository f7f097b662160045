"""What the executor tests share: an executor holding the service's token, waiting for a run's
state, and the test's own reads of Jobs, Pods and Secrets as cluster admin."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api
from kubernetes.client.exceptions import ApiException

from trainyard_servicekit.executors import RunStatus
from trainyard_servicekit.executors.kubernetes.executor import KubernetesExecutor
from trainyard_servicekit.executors.kubernetes.job import (
    LABEL_JOB_ID,
    KubernetesSettings,
    job_name,
    secret_name,
)

from .controlplane import NAMESPACE as NS
from .controlplane import ControlPlane

MERGE_PATCH = "application/merge-patch+json"


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


def secret_gone(admin: ApiClient, run_id: str) -> bool:
    try:
        CoreV1Api(admin).read_namespaced_secret(secret_name(run_id), NS)
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
