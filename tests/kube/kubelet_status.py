"""The Pod status the simulated kubelet writes through the `/status` subresource: waiting,
running, then terminated with the exit code (and Evicted when the node evicted the Pod)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from .kubelet_pod import PodRun

MERGE_PATCH = "application/merge-patch+json"
NODE_IP = "127.0.0.1"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(run: PodRun, ready: bool, reason: str | None = None) -> list[dict]:
    stamp = now()
    mine = {"PodReadyToStartContainers": True, "Initialized": True}
    mine |= {"ContainersReady": ready, "Ready": ready}
    kept = [
        c for c in (run.pod.get("status") or {}).get("conditions") or [] if c["type"] not in mine
    ]
    for kind, value in mine.items():
        cond = {"type": kind, "status": str(value), "lastTransitionTime": stamp}
        if not value and reason and kind in ("ContainersReady", "Ready"):
            cond["reason"] = reason
        kept.append(cond)
    return kept


def _container(container: dict[str, Any], state: dict[str, Any], ready: bool) -> dict:
    return {
        "name": container["name"],
        "image": container.get("image", ""),
        "imageID": "",
        "containerID": "simulated://" + container["name"],
        "ready": ready,
        "started": ready,
        "restartCount": 0,
        "state": state,
    }


def waiting_status(run: PodRun, reason: str, message: str) -> dict:
    container = run.pod["spec"]["containers"][0]
    state = {"waiting": {"reason": reason, "message": message}}
    return {
        "phase": "Pending",
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "startTime": (run.pod.get("status") or {}).get("startTime") or now(),
        "conditions": _conditions(run, False, "ContainersNotReady"),
        "containerStatuses": [_container(container, state, False)],
    }


def running_status(run: PodRun, container: dict[str, Any], started: str) -> dict:
    state = {"running": {"startedAt": started}}
    return {
        "phase": "Running",
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "podIP": NODE_IP,
        "podIPs": [{"ip": NODE_IP}],
        "startTime": (run.pod.get("status") or {}).get("startTime") or started,
        "conditions": _conditions(run, True),
        "containerStatuses": [_container(container, state, True)],
    }


def terminated_status(
    run: PodRun, container: dict[str, Any], started: str, code: int, reason: str
) -> dict:
    state = {
        "terminated": {
            "exitCode": code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": now(),
            "containerID": "simulated://" + container["name"],
        }
    }
    status: dict[str, Any] = {
        "phase": "Succeeded" if code == 0 and run.evicted is None else "Failed",
        "conditions": _conditions(run, False, "PodCompleted" if code == 0 else "PodFailed"),
        "containerStatuses": [_container(container, state, False)],
    }
    if run.evicted is not None:
        status |= {"phase": "Failed", "reason": "Evicted", "message": run.evicted}
        status["conditions"].append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "TerminationByKubelet",
                "message": run.evicted,
                "lastTransitionTime": now(),
            }
        )
    return status


def write_status(core: CoreV1Api, run: PodRun, status: dict[str, Any]) -> None:
    name, namespace = run.pod["metadata"]["name"], run.pod["metadata"]["namespace"]
    try:
        written = core.patch_namespaced_pod_status(
            name,
            namespace,
            {"metadata": {"uid": run.uid}, "status": status},
            _content_type=MERGE_PATCH,
            _preload_content=False,
        )
        run.pod = json.loads(written.data)
    except ApiException as exc:
        if exc.status not in (404, 409):  # deleted meanwhile
            raise
