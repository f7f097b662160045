"""A Job create that the API server refuses for its own race (409 Conflict, e.g. its quota
admission updating the namespace's ResourceQuota for another create at the same moment, as seen
in a test run) is tried again; an AlreadyExists 409 is not a race and keeps its own handling.

The race itself cannot be provoked on demand: a wrapper around the real batch API answers the
first create with the Conflict the API server sent then, and passes every call on to the real
control plane."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.exceptions import ApiException

from trainyard_servicekit.executors.kubernetes.executor import KubernetesExecutor

from .controlplane import NAMESPACE as NS
from .jobs import launch

QUOTA_CONFLICT = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": 'Operation cannot be fulfilled on resourcequotas "trainyard-training": the '
    "object has been modified; please apply your changes to the latest version and try again",
    "reason": "Conflict",
    "details": {"name": "trainyard-training", "kind": "resourcequotas"},
    "code": 409,
}


class ConflictFirst:
    """The real batch API, whose first `conflicts` Job creates answer 409 Conflict."""

    def __init__(self, real: Any, conflicts: int) -> None:
        self.real, self.conflicts, self.creates = real, conflicts, 0

    def create_namespaced_job(self, *args: Any, **kwargs: Any) -> Any:
        self.creates += 1
        if self.creates <= self.conflicts:
            refused = ApiException(status=409, reason="Conflict")
            refused.body = json.dumps(QUOTA_CONFLICT)
            raise refused
        return self.real.create_namespaced_job(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_conflicting_create_is_tried_again(executor: KubernetesExecutor) -> None:
    batch, _ = executor._apis()
    racing = ConflictFirst(batch, conflicts=2)
    executor._batch = racing  # type: ignore[assignment]
    try:
        info = executor.start(launch("job-conflict", seconds=0))
    finally:
        executor._batch = batch
    assert racing.creates == 3
    assert info.run_id == "job-conflict"
    created = batch.read_namespaced_job("trainyard-job-conflict", NS)
    assert created.metadata.uid
