"""The Kubernetes executor's view of its runs, kept current from watch events (thread-safe)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from trainyard_servicekit.executors.base import RunInfo, RunStatus
from trainyard_servicekit.executors.kubernetes.job import LABEL_FRAMEWORK, LABEL_JOB_ID, label_value
from trainyard_servicekit.executors.kubernetes.status import Observed, observe
from trainyard_wire.failures import is_oom


class RunTable:
    def __init__(self, framework: str, executor: str = "kubernetes") -> None:
        self.framework = label_value(framework)
        self.executor = executor
        self._jobs: dict[str, dict[str, Any]] = {}
        self._pods: dict[str, dict[str, dict[str, Any]]] = {}
        self._runs: dict[str, RunInfo] = {}
        self._retired: set[str] = set()  # uids of finished Jobs deleted to start a run again
        self._not_created: dict[str, str] = {}  # Job uid: why its Pod could not be created
        self._lock = threading.Lock()

    def apply(self, kind: str, event: str, obj: dict[str, Any]) -> None:
        """One Job, Pod or Event as a watch or a list delivered it (ADDED/MODIFIED/DELETED)."""
        if kind == "event":
            self._pod_not_created(event, obj)
            return
        labels = obj.get("metadata", {}).get("labels") or {}
        run_id = labels.get(LABEL_JOB_ID)
        # The selector does this on a real server; the check keeps other frameworks' runs out.
        if not run_id or labels.get(LABEL_FRAMEWORK) != self.framework:
            return
        with self._lock:
            if self._of_retired_job(kind, obj):
                return
            if kind == "job":
                if event == "DELETED":
                    self._jobs.pop(run_id, None)
                    self._not_created.pop(obj.get("metadata", {}).get("uid"), None)
                    self._gone(run_id)
                    return
                self._jobs[run_id] = obj
            else:
                pods = self._pods.setdefault(run_id, {})
                if event == "DELETED":
                    pods.pop(obj["metadata"]["name"], None)
                else:
                    pods[obj["metadata"]["name"]] = obj
            self._refresh(run_id)

    def started(self, run_id: str, job: dict[str, Any]) -> RunInfo:
        with self._lock:
            info = self._runs.get(run_id)
            if info is None or info.finished:
                info = RunInfo(run_id, RunStatus.PENDING, self.executor, datetime.now(UTC))
                self._runs[run_id] = info
            self._jobs[run_id] = job
            self._refresh(run_id)
            return info

    def get(self, run_id: str) -> RunInfo | None:
        with self._lock:
            return self._runs.get(run_id)

    def pods(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._pods.get(run_id, {}).values())

    def all(self) -> list[RunInfo]:
        with self._lock:
            return list(self._runs.values())

    def mark_stop(self, info: RunInfo) -> bool:
        """Record a stop request; False when there is nothing left to stop."""
        with self._lock:
            if info.finished or info.stop_requested:
                return False
            info.stop_requested = True
            return True

    def gone(self, run_id: str) -> None:
        with self._lock:
            self._gone(run_id)

    def retire(self, run_id: str, job_uid: str | None) -> None:
        """Forget a finished run whose Job was deleted so that the run can start again.

        The watches still bring that Job's last events (its deletion among them) and its Pods
        until they are collected: they are about the old run, and must not touch the new one.
        """
        with self._lock:
            if job_uid:
                self._retired.add(job_uid)
            self._jobs.pop(run_id, None)
            self._pods.pop(run_id, None)
            self._runs.pop(run_id, None)

    def _pod_not_created(self, event: str, obj: dict[str, Any]) -> None:
        """A FailedCreate Event of a Job: why its Pod is missing (kept when the Event expires)."""
        uid = (obj.get("involvedObject") or {}).get("uid")
        if not uid or event == "DELETED":
            return
        message = str(obj.get("message") or "").removeprefix("Error creating: ")
        with self._lock:
            self._not_created[uid] = message
            for run_id, job in self._jobs.items():
                if job.get("metadata", {}).get("uid") == uid:
                    self._refresh(run_id)

    def _of_retired_job(self, kind: str, obj: dict[str, Any]) -> bool:
        if not self._retired:
            return False
        meta = obj.get("metadata") or {}
        if kind == "job":
            return meta.get("uid") in self._retired
        owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
        return not owners.isdisjoint(self._retired)

    def _refresh(self, run_id: str) -> None:
        job = self._jobs.get(run_id)
        info = self._runs.get(run_id)
        if job is None:
            return
        pods = list(self._pods.get(run_id, {}).values())
        seen = observe(job, pods, self._not_created.get(job.get("metadata", {}).get("uid")))
        if info is not None and info.finished:
            # Finished runs never change again, but a list or a fresh watch (after a restart)
            # may bring the Job before its Pods: their account of the same ending is kept.
            if pods and seen.status == info.status and not info.stop_requested:
                self._describe(info, seen)
            return
        if info is None:
            info = RunInfo(run_id, seen.status, self.executor, seen.started_at or datetime.now(UTC))
            self._runs[run_id] = info
        stopped = info.stop_requested and seen.status == RunStatus.FAILED  # our own delete
        info.status = RunStatus.STOPPED if stopped else seen.status
        self._describe(info, seen, stopped)
        if info.finished:
            info.ended_at = seen.ended_at or datetime.now(UTC)

    @staticmethod
    def _describe(info: RunInfo, seen: Observed, stopped: bool = False) -> None:
        info.reason = seen.reason
        info.exit_code, info.signal = seen.exit_code, seen.signal
        failure = None if stopped else seen.failure_reason
        info.failure_reason = failure.value if failure else None
        info.oom = is_oom(failure)

    def _gone(self, run_id: str) -> None:
        info = self._runs.get(run_id)
        if info is None or info.finished:
            return  # a finished run whose Job went after its TTL keeps its result
        if info.stop_requested:
            info.status = RunStatus.STOPPED
        else:
            info.status = RunStatus.FAILED
            info.reason = "the Job was deleted outside Trainyard"
        info.ended_at = datetime.now(UTC)
