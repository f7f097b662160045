"""Talking to the Kubernetes API server: configuration, one call, and what its failures mean.

A call that gets no answer (network trouble, 5xx) raises ClusterUnreachable, which the service
reports as an unavailable executor; a refusal (4xx) stays an ApiException for the caller to
judge, and reads as `api_error(exc)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from trainyard_servicekit.executors.unavailable import ExecutorRefused, ExecutorUnavailable

NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError)


class ClusterUnreachable(ExecutorUnavailable):
    """No answer from the API server (or no configuration to find one)."""


class ClusterRefused(ExecutorRefused):
    """The API server answered, and said no (permissions, quota, an invalid object)."""


def load_api_client() -> ApiClient:
    """In-cluster configuration (a service account) when running in a pod, else a kubeconfig."""
    configuration = Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except ConfigException:
        try:
            config.load_kube_config(client_configuration=configuration)
        except (ConfigException, OSError) as exc:
            raise ClusterUnreachable(
                f"no cluster configuration: not running in a pod and no usable kubeconfig ({exc})"
            ) from None
    return ApiClient(configuration)


def api_error(exc: ApiException) -> str:
    try:
        message = json.loads(exc.body or "{}").get("message")
    except ValueError:
        message = None
    return f"{exc.status} {exc.reason}: {message or exc.body or ''}".strip()


def exc_reason(exc: ApiException) -> str | None:
    """The Status reason of a refusal (AlreadyExists, Conflict, …), where the body has one."""
    try:
        reason = json.loads(exc.body or "{}").get("reason")
    except ValueError:
        return None
    return reason if isinstance(reason, str) else None


def call(
    what: str,
    fn: Callable[..., Any],
    *args: Any,
    timeout: float,
    raw: bool = False,
    **kwargs: Any,
) -> Any:
    """One API call returning raw JSON; network trouble and 5xx become ClusterUnreachable."""
    try:
        response = fn(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
    except NETWORK_ERRORS as exc:
        raise ClusterUnreachable(f"{what}: {exc}") from None
    except ApiException as exc:
        if exc.status is None or exc.status >= 500:
            raise ClusterUnreachable(f"{what}: {api_error(exc)}") from None
        raise
    return response.data if raw else json.loads(response.data or b"{}")
