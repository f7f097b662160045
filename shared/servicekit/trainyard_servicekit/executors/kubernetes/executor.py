"""Tier 2/3: each run is a Kubernetes Job (plus a Secret with its callback token).

The API calls and how their failures read are in api.py; the objects it creates in job.py.

Two watches (Jobs and Pods with this framework's labels) keep every RunInfo current in the
background; status reads the API only for runs it has not seen yet. Runs are found by label,
so a restarted service finds the Jobs it started before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import watch
from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api, V1DeleteOptions, V1Preconditions
from kubernetes.client.exceptions import ApiException

from trainyard_servicekit.executors.base import FINISHED, Executor, LaunchSpec, RunInfo, RunNotFound
from trainyard_servicekit.executors.kubernetes.api import (
    NETWORK_ERRORS,
    ClusterRefused,
    ClusterUnreachable,
    api_error,
    call,
    exc_reason,
    load_api_client,
)
from trainyard_servicekit.executors.kubernetes.distributed import build_service, speaking_pod
from trainyard_servicekit.executors.kubernetes.job import (
    CONTAINER,
    LABEL_JOB_ID,
    build_callback_secret,
    build_job,
    framework_selector,
    job_name,
    label_value,
    secret_name,
)
from trainyard_servicekit.executors.kubernetes.runs import RunTable
from trainyard_servicekit.executors.kubernetes.settings import KubernetesSettings
from trainyard_servicekit.executors.kubernetes.status import observe

log = logging.getLogger(__name__)
# Events carry no labels: the Job controller's failures to create a run's Pod (over the
# namespace's quota, refused by admission) are told only there.
POD_NOT_CREATED = "involvedObject.kind=Job,reason=FailedCreate"
CONFLICT_RETRIES = 5  # creates refused by the API server's own races (409 Conflict)


class KubernetesExecutor(Executor):
    name = "kubernetes"
    max_nodes = 64  # one pod per node: an Indexed Job (distributed.py)

    def __init__(
        self,
        settings: KubernetesSettings,
        framework: str,
        api_client: ApiClient | None = None,
        *,
        unavailable: str | None = None,
        request_timeout: float = 10.0,
        watch_timeout: float = 60.0,
        replace_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.framework = framework
        self.selector = framework_selector(framework)
        self._client = api_client
        self._unavailable = unavailable if api_client is None else None
        self._batch = BatchV1Api(api_client) if api_client else None
        self._core = CoreV1Api(api_client) if api_client else None
        self.request_timeout = request_timeout
        self.watch_timeout = watch_timeout
        self.replace_timeout = replace_timeout  # for a finished Job's name to free (a retry)
        self.runs = RunTable(framework, self.name)
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: list[watch.Watch] = []

    @classmethod
    def from_environment(cls, settings: KubernetesSettings, framework: str) -> KubernetesExecutor:
        try:
            return cls(settings, framework, load_api_client())
        except ClusterUnreachable as exc:
            return cls(settings, framework, None, unavailable=str(exc))

    # -- lifecycle of the watches ------------------------------------------------------------

    def open(self) -> KubernetesExecutor:
        if self._client is None or self._threads:
            return self
        for kind in ("job", "pod", "event"):
            thread = threading.Thread(target=self._follow, args=(kind,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self._closed.set()
        for stream in list(self._streams):
            stream.stop()  # unblocks a watch waiting for its next event
        for thread in self._threads:
            thread.join(timeout=self.watch_timeout + self.request_timeout + 1)
        if self._client is not None:
            self._client.close()

    def _follow(self, kind: str) -> None:
        """Watch (never poll) this framework's Jobs, Pods, or the Events of Pods not created;
        reconnect after any interruption."""
        while not self._closed.is_set():
            batch, core = self._apis()
            list_fn: Callable[..., Any] = {
                "job": batch.list_namespaced_job,
                "pod": core.list_namespaced_pod,
                "event": core.list_namespaced_event,
            }[kind]
            selector = (
                {"field_selector": POD_NOT_CREATED}
                if kind == "event"
                else {"label_selector": self.selector}
            )
            # "object": events stay plain JSON, whatever fields the server leaves out.
            stream = watch.Watch(return_type="object")
            self._streams.append(stream)
            try:
                for event in stream.stream(
                    list_fn,
                    self.settings.namespace,
                    **selector,
                    timeout_seconds=max(1, int(self.watch_timeout)),
                    _request_timeout=(self.request_timeout, self.watch_timeout),
                ):
                    if self._closed.is_set():
                        stream.stop()
                        break
                    self.runs.apply(kind, event["type"], event["raw_object"])
            except (ApiException, ValueError, *NETWORK_ERRORS) as exc:
                if not self._closed.is_set() and "timed out" not in str(exc):
                    log.warning("watching %ss in %s: %s", kind, self.settings.namespace, exc)
                self._closed.wait(1.0)
            finally:
                self._streams.remove(stream)

    # -- API calls ---------------------------------------------------------------------------

    def _apis(self) -> tuple[BatchV1Api, CoreV1Api]:
        if self._batch is None or self._core is None:
            raise ClusterUnreachable(self._unavailable or "no Kubernetes API client")
        return self._batch, self._core

    def _call(
        self, what: str, fn: Callable[..., Any], *args: Any, raw: bool = False, **kwargs: Any
    ) -> Any:
        return call(what, fn, *args, timeout=self.request_timeout, raw=raw, **kwargs)

    def _read_run(self, run_id: str) -> None:
        batch, core = self._apis()
        try:
            job = self._call(
                "read Job", batch.read_namespaced_job, job_name(run_id), self.settings.namespace
            )
        except ApiException as exc:
            if exc.status == 404:
                raise RunNotFound(run_id) from None
            raise ClusterRefused(f"reading the Job: {api_error(exc)}") from None
        selector = f"{LABEL_JOB_ID}={label_value(run_id)}"
        pods = self._call(
            "list Pods", core.list_namespaced_pod, self.settings.namespace, label_selector=selector
        )
        self.runs.apply("job", "ADDED", job)
        for pod in pods.get("items", []):
            self.runs.apply("pod", "ADDED", pod)

    # -- the Executor interface --------------------------------------------------------------

    def start(self, launch: LaunchSpec) -> RunInfo:
        batch, core = self._apis()
        namespace = self.settings.namespace
        job = build_job(launch, self.settings)
        try:
            created = self._create_job(job)
        except ApiException as exc:
            if exc.status != 409:
                raise ClusterRefused(f"kubernetes refused the Job: {api_error(exc)}") from None
            created = self._call(
                "read Job", batch.read_namespaced_job, job["metadata"]["name"], namespace
            )
            if observe(created, []).status in FINISHED:
                created = self._replace_finished_job(launch.run_id, job, created)
        uid = created.get("metadata", {}).get("uid")
        if not uid:
            raise ClusterRefused("kubernetes returned the Job without a uid")
        token = launch.environment.callback_token or ""
        secret = build_callback_secret(launch, job, uid, token)
        try:
            self._call("create Secret", core.create_namespaced_secret, namespace, secret)
        except ApiException as exc:
            if exc.status != 409:
                self._delete_job(job["metadata"]["name"], 0)
                raise ClusterRefused(f"kubernetes refused the Secret: {api_error(exc)}") from None
            self._replace_secret(secret)
        if launch.spec.distributed.nodes > 1:
            self._create_service(build_service(launch, job, uid))
        return self.runs.started(launch.run_id, created)

    def _create_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Create the Job. A 409 Conflict (not AlreadyExists) is the API server's own race, e.g.
        its quota admission updating the namespace's ResourceQuota for a create beside this
        one ("the object has been modified"): the create is tried again, as kubectl does."""
        batch, _ = self._apis()
        for attempt in range(CONFLICT_RETRIES):
            try:
                return self._call(
                    "create Job", batch.create_namespaced_job, self.settings.namespace, job
                )
            except ApiException as exc:
                if exc.status != 409 or exc_reason(exc) != "Conflict":
                    raise
                if attempt == CONFLICT_RETRIES - 1:
                    raise ClusterRefused(f"kubernetes refused the Job: {api_error(exc)}") from None
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("the loop returns or raises")

    def _create_service(self, service: dict[str, Any]) -> None:
        """The headless Service of a run over several nodes; one left by an earlier attempt
        (owned by its Job, so about to be collected) is replaced."""
        _, core = self._apis()
        namespace, name = self.settings.namespace, service["metadata"]["name"]
        for _ in range(2):
            try:
                self._call("create Service", core.create_namespaced_service, namespace, service)
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise ClusterRefused(
                        f"kubernetes refused the Service: {api_error(exc)}"
                    ) from None
            try:
                self._call("delete Service", core.delete_namespaced_service, name, namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise ClusterRefused(f"deleting the old Service: {api_error(exc)}") from None
        raise ClusterRefused(f"the Service {name} of an earlier attempt is still there")

    def _replace_finished_job(
        self, run_id: str, job: dict[str, Any], old: dict[str, Any]
    ) -> dict[str, Any]:
        """Delete the run's finished Job and create `job` under its name; the new Job.

        The gateway starts a job again only as a new attempt (a retry) of a run that ended, and
        with the same run id, so the same Job name: without this, the retry would get its old,
        finished Job back and never run. Background propagation frees the name at once (the
        Pods go after the Job); the uid precondition deletes that finished Job and no other.
        """
        batch, core = self._apis()
        namespace, name = self.settings.namespace, job["metadata"]["name"]
        old_uid = old.get("metadata", {}).get("uid")
        options = V1DeleteOptions(
            propagation_policy="Background",
            preconditions=V1Preconditions(uid=old_uid) if old_uid else None,
        )
        try:
            self._call("delete Job", batch.delete_namespaced_job, name, namespace, body=options)
        except ApiException as exc:
            if exc.status not in (404, 409):  # 404: gone already; 409: no longer that Job
                raise ClusterRefused(f"deleting the finished Job: {api_error(exc)}") from None
        self.runs.retire(run_id, old_uid)
        # Its Secret too, not left to the garbage collector: a collector that had found it
        # orphaned could delete it just after the new run's token was written into it.
        try:
            self._call(
                "delete Secret", core.delete_namespaced_secret, secret_name(run_id), namespace
            )
        except ApiException as exc:
            if exc.status != 404:
                raise ClusterRefused(f"deleting the old Secret: {api_error(exc)}") from None
        deadline = time.monotonic() + self.replace_timeout
        while True:
            try:
                return dict(self._call("create Job", batch.create_namespaced_job, namespace, job))
            except ApiException as exc:
                if exc.status != 409:
                    raise ClusterRefused(f"kubernetes refused the Job: {api_error(exc)}") from None
            if time.monotonic() >= deadline:
                raise ClusterRefused(
                    f"the finished Job {name} of an earlier attempt was deleted, but its name "
                    f"did not free within {self.replace_timeout:g}s (the Job is still being "
                    "deleted); try again later"
                )
            time.sleep(0.2)

    def _replace_secret(self, secret: dict[str, Any]) -> None:
        """Write the run's callback Secret over the one of the same name."""
        _, core = self._apis()
        namespace, name = self.settings.namespace, secret["metadata"]["name"]
        try:
            self._call("replace Secret", core.replace_namespaced_secret, name, namespace, secret)
            return
        except ApiException as exc:
            if exc.status != 404:
                raise ClusterRefused(f"kubernetes refused the Secret: {api_error(exc)}") from None
        # Collected with an earlier attempt's Job between the create and the replace.
        try:
            self._call("create Secret", core.create_namespaced_secret, namespace, secret)
        except ApiException as exc:
            raise ClusterRefused(f"kubernetes refused the Secret: {api_error(exc)}") from None

    def status(self, run_id: str) -> RunInfo:
        info = self.runs.get(run_id)
        if info is None:
            self._read_run(run_id)
            info = self.runs.get(run_id)
        if info is None:
            raise RunNotFound(run_id)
        return info

    def _delete_job(self, name: str, grace_seconds: int) -> None:
        batch, _ = self._apis()
        # Foreground: the Job goes only after its Pods; its Secret follows by ownerReference.
        options = V1DeleteOptions(
            propagation_policy="Foreground", grace_period_seconds=grace_seconds
        )
        self._call(
            "delete Job", batch.delete_namespaced_job, name, self.settings.namespace, body=options
        )

    def stop(self, run_id: str, grace_seconds: float = 10.0) -> RunInfo:
        info = self.status(run_id)
        if not self.runs.mark_stop(info):
            return info
        try:
            self._delete_job(job_name(run_id), int(grace_seconds))
        except ApiException as exc:
            if exc.status != 404:
                raise ClusterRefused(f"deleting the Job: {api_error(exc)}") from None
            self.runs.gone(run_id)
        return info

    def _log_pod(self, run_id: str) -> str | None:
        """The pod whose log is the run's: rank 0's of several, else the newest."""
        pod = speaking_pod(self.runs.pods(run_id))
        return None if pod is None else str(pod["metadata"]["name"])

    def logs(self, run_id: str, tail: int | None = None) -> list[str]:
        self.status(run_id)
        pod = self._log_pod(run_id)
        if tail == 0 or pod is None:
            return []
        _, core = self._apis()
        try:
            text = self._call(
                "read Pod log",
                core.read_namespaced_pod_log,
                pod,
                self.settings.namespace,
                container=CONTAINER,
                tail_lines=tail,
                raw=True,
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or already gone
                return []
            raise ClusterRefused(f"reading the Pod log: {api_error(exc)}") from None
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        return str(text).splitlines()

    def follow_logs(self, run_id: str, tail: int | None = None) -> Iterator[str]:
        """The pod's log (rank 0's of several) streamed by the API server (`follow=true`) until
        the container ends."""
        self.status(run_id)
        pod = self._log_pod(run_id)
        if pod is None:
            return
        _, core = self._apis()
        try:
            # Not through _call: the body is a stream to read as it comes, with no read timeout.
            response = core.read_namespaced_pod_log(
                pod,
                self.settings.namespace,
                container=CONTAINER,
                tail_lines=tail,
                follow=True,
                _preload_content=False,
            )
        except NETWORK_ERRORS as exc:
            raise ClusterUnreachable(f"follow Pod log: {exc}") from None
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or already gone
                return
            raise ClusterRefused(f"following the Pod log: {api_error(exc)}") from None
        pending = b""
        try:
            for chunk in response.stream(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace")
            if pending:
                yield pending.decode("utf-8", "replace")
        finally:
            response.release_conn()

    def list(self) -> list[RunInfo]:
        batch, core = self._apis()
        namespace = self.settings.namespace
        jobs = self._call(
            "list Jobs", batch.list_namespaced_job, namespace, label_selector=self.selector
        )
        pods = self._call(
            "list Pods", core.list_namespaced_pod, namespace, label_selector=self.selector
        )
        for job in jobs.get("items", []):
            self.runs.apply("job", "ADDED", job)
        for pod in pods.get("items", []):
            self.runs.apply("pod", "ADDED", pod)
        return self.runs.all()

    def running_count(self) -> int:
        # From the watched state: health checks must answer even while the cluster does not.
        return sum(1 for run in self.runs.all() if not run.finished)
