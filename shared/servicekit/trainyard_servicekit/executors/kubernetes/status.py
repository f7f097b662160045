"""What a Job and its Pods say about a run: its RunStatus and the reason a user needs.

Works on the API's JSON form (dicts), as a watch or a list delivers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trainyard_runtime.failure import FailureReason, kubernetes_reason
from trainyard_servicekit.executors.base import RunStatus
from trainyard_servicekit.executors.kubernetes.distributed import completion_index, newest
from trainyard_servicekit.executors.kubernetes.names import CONTAINER

IMAGE_PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
CONFIG_WAITS = frozenset({"CreateContainerConfigError", "CreateContainerError"})


@dataclass(frozen=True)
class Observed:
    status: RunStatus
    reason: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    failure_reason: FailureReason | None = None


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _condition(obj: dict[str, Any], *types: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") in types and cond.get("status") == "True":
            return cond
    return None


def _failed_first(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The pod whose failure failed the run: of the pods that failed on their own (not deleted,
    or deleted by an eviction), the one that ended first. When one pod of an Indexed Job fails,
    the Job controller deletes the others; their ends are not the cause."""

    def on_its_own(pod: dict[str, Any]) -> bool:
        deleted = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
        return not deleted or _condition(pod, "DisruptionTarget") is not None

    def ended(pod: dict[str, Any]) -> str:
        terminated = _container_state(pod).get("terminated") or {}
        return str(terminated.get("finishedAt") or "~")  # not written yet: last

    failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
    failed = [p for p in failed if on_its_own(p)] or failed
    return min(failed, key=ended) if failed else None


def _pod_named(job: dict[str, Any], pod: dict[str, Any], problem: str) -> str:
    """The problem, with the pod's node rank when the Job has several pods."""
    index = completion_index(pod)
    if index is None or ((job.get("spec") or {}).get("completions") or 1) <= 1:
        return problem
    name = (pod.get("metadata") or {}).get("name")
    return f"node rank {index} (pod {name}): {problem}"


def _container_state(pod: dict[str, Any]) -> dict[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            return status.get("state") or {}
    return {}


def _limit(pod: dict[str, Any], resource: str) -> str | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            return ((container.get("resources") or {}).get("limits") or {}).get(resource)
    return None


def pod_problem(pod: dict[str, Any]) -> tuple[str | None, int | None]:
    """Why this pod is stuck or ended badly, and its exit code when it has one."""
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return f"evicted: {status.get('message') or 'the node ran short of resources'}", None
    state = _container_state(pod)
    terminated = state.get("terminated")
    if terminated:
        code = terminated.get("exitCode")
        if terminated.get("reason") == "OOMKilled":
            limit = _limit(pod, "memory")
            return (
                f"out of memory (OOMKilled): the container exceeded its memory limit"
                f"{f' of {limit}' if limit else ''}; ask for more resources.memory",
                code,
            )
        if code not in (None, 0):
            return f"the container exited with code {code} ({terminated.get('reason')})", code
        return None, code
    waiting = state.get("waiting") or {}
    if waiting.get("reason") in IMAGE_PULL_FAILURES:
        return f"image pull failed ({waiting['reason']}): {waiting.get('message', '')}", None
    if waiting.get("reason") in CONFIG_WAITS:
        return f"container not created ({waiting['reason']}): {waiting.get('message', '')}", None
    scheduled = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
    )
    if scheduled and scheduled.get("status") == "False":
        return f"unschedulable: {scheduled.get('message') or scheduled.get('reason')}", None
    return None, None


def _failure(job: dict[str, Any], cond: dict[str, Any], pod: dict[str, Any] | None) -> str:
    reason = cond.get("reason") or "Failed"
    spec = job.get("spec") or {}
    if reason == "DeadlineExceeded":
        text = f"deadline exceeded: ran longer than {spec.get('activeDeadlineSeconds')}s"
    elif reason == "BackoffLimitExceeded":
        text = f"backoff limit exceeded: the pod failed {spec.get('backoffLimit', 0) + 1} time(s)"
    else:
        text = f"{reason}: {cond.get('message') or 'the Job failed'}"
    problem = pod_problem(pod)[0] if pod else None
    if pod is None or problem is None:
        return text
    return f"{text}; {_pod_named(job, pod, problem)}"


def _failure_reason(cond: dict[str, Any], pod: dict[str, Any] | None) -> FailureReason:
    pod = pod or {}
    terminated = _container_state(pod).get("terminated") or {}
    return kubernetes_reason(
        evicted=(pod.get("status") or {}).get("reason") == "Evicted",
        terminated_reason=terminated.get("reason"),
        job_reason=cond.get("reason"),
    )


def observe(
    job: dict[str, Any], pods: list[dict[str, Any]], not_created: str | None = None
) -> Observed:
    """`not_created`: why the Job controller could not create the Job's Pod, if it said so."""
    status = job.get("status") or {}
    started = parse_time(status.get("startTime")) or parse_time(
        job.get("metadata", {}).get("creationTimestamp")
    )
    pod = _failed_first(pods) or newest(pods)
    problem, code = pod_problem(pod) if pod else (None, None)
    done = _condition(job, "Complete", "SuccessCriteriaMet")
    if done:
        ended = parse_time(status.get("completionTime")) or parse_time(
            done.get("lastTransitionTime")
        )
        return Observed(RunStatus.SUCCEEDED, None, 0, None, started, ended)
    failed = _condition(job, "Failed", "FailureTarget")
    if failed:
        ended = parse_time(failed.get("lastTransitionTime"))
        signal = code - 128 if code is not None and code > 128 else None
        return Observed(
            RunStatus.FAILED,
            _failure(job, failed, pod),
            code,
            signal,
            started,
            ended,
            _failure_reason(failed, pod),
        )
    phase = (pod or {}).get("status", {}).get("phase")
    if phase == "Running" or status.get("ready"):
        return Observed(RunStatus.RUNNING, None, None, None, started)
    # A pod that ended while the Job controller has not yet written its verdict.
    if phase == "Failed":
        named = _pod_named(job, pod or {}, problem) if problem else None
        return Observed(RunStatus.RUNNING, named, code, None, started)
    if pod is None and not_created:
        return Observed(RunStatus.PENDING, f"pod not created: {not_created}", None, None, started)
    return Observed(RunStatus.PENDING, problem, None, None, started)
