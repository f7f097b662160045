"""The kubelet of the test cluster's simulated Nodes: each Pod runs as a local process.

kwok keeps the Nodes Ready but runs nothing. `SimulatedKubelet` does a kubelet's part for
every Pod the scheduler binds to those Nodes, through the API server, as a kubelet would
(the environment in kubelet_environment.py, the status in kubelet_status.py, the log API in
kubelet_logs.py, the Pod and its process in kubelet_pod.py):

- resolves the container's environment: plain values, Secret and ConfigMap keys
  (`valueFrom`), the Pod's own fields and annotations (`fieldRef`) and whole Secrets and
  ConfigMaps (`envFrom`, optional or not), read from the API, and expands `$(NAME)` in the
  command and args from it;
- runs its command as a local process in its own process group. `python` is this interpreter
  and `image_env` (PYTHONPATH) stands for what the image has installed; each volume is a folder
  of the pod's own, and a path under a mount point (in the environment or `workingDir`) points
  into that folder. No image is pulled: an image outside `images` fails to pull;
- writes the Pod's status through its `/status` subresource: Running once the process started,
  then terminated with the process's exit code (128 + signal when killed), phase Succeeded or
  Failed. The Job controller reads those, as it would a real kubelet's;
- holds the memory limit as the kernel's cgroup would: a process whose resident memory passes
  the container's limit is killed (SIGKILL) and reported OOMKilled, exit code 137;
- honours graceful deletion: SIGTERM to the process group, SIGKILL after the grace period, the
  final status, then the Pod's deletion with grace 0 (the kubelet's last word);
- serves the kubelet API's `/containerLogs` over TLS, accepting only clients with a certificate
  from the cluster's CA, so a Pod's log goes API server → kubelet as in a cluster;
- `evict()` ends a Pod the way node-pressure eviction does.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import watch
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from .kubelet_environment import ConfigError, container_environment, expand, map_path
from .kubelet_logs import log_server
from .kubelet_pod import PodRun, memory_limit, resident_bytes, signal_group
from .kubelet_status import now, running_status, terminated_status, waiting_status, write_status

log = logging.getLogger(__name__)


class SimulatedKubelet:
    def __init__(
        self,
        api: ApiClient,
        root: Path,
        nodes: set[str],
        *,
        tls: tuple[Path, Path, Path],  # serving certificate, key, the CA clients must come from
        image_env: dict[str, str],
        images: tuple[str, ...] = ("ghcr.io/trainyard/",),
    ) -> None:
        self.api, self.core = api, CoreV1Api(api)
        self.root, self.nodes, self.image_env, self.images = root, nodes, image_env, images
        self.runs: dict[str, PodRun] = {}  # by Pod uid
        self.by_name: dict[tuple[str, str], PodRun] = {}
        self.log_requests: list[tuple[str, dict[str, str]]] = []  # (path, query) served
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._stream: watch.Watch | None = None
        self._server = log_server(self.by_name, self.log_requests, *tls)
        self.port = self._server.server_address[1]
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._follow, daemon=True),
        ]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SimulatedKubelet:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._closed.set()
        if self._stream is not None:
            self._stream.stop()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            run.deleting.set()
            if run.proc is not None and run.proc.poll() is None:
                signal_group(run.proc, signal.SIGKILL)
                run.proc.wait()
        for thread in self._threads:
            thread.join(timeout=2)  # a watch may wait for its next event: it is a daemon

    def evict(self, namespace: str, name: str, message: str) -> None:
        """Node-pressure eviction: the Pod's process is killed and the Pod fails, Evicted."""
        self.by_name[(namespace, name)].evicted = message

    # -- the Pods bound to our nodes ---------------------------------------------------------

    def _follow(self) -> None:
        while not self._closed.is_set():
            try:
                listed = json.loads(
                    self.core.list_pod_for_all_namespaces(_preload_content=False).data
                )
                for pod in listed["items"]:
                    self._on_pod("ADDED", pod)
                self._stream = watch.Watch(return_type="object")
                for event in self._stream.stream(
                    self.core.list_pod_for_all_namespaces,
                    resource_version=listed["metadata"]["resourceVersion"],
                    timeout_seconds=30,
                ):
                    if self._closed.is_set():
                        break
                    self._on_pod(event["type"], event["raw_object"])
            except Exception as exc:
                if not self._closed.is_set():
                    log.warning("simulated kubelet: watching pods: %s", exc)
                    self._closed.wait(0.5)

    def _on_pod(self, event: str, pod: dict[str, Any]) -> None:
        if event not in ("ADDED", "MODIFIED", "DELETED"):
            return
        if (pod.get("spec") or {}).get("nodeName") not in self.nodes:
            return
        meta = pod["metadata"]
        uid = meta["uid"]
        with self._lock:
            run = self.runs.get(uid)
            if run is None:
                if event == "DELETED" or (pod.get("status") or {}).get("phase") in (
                    "Succeeded",
                    "Failed",
                ):
                    return
                folder = self.root / f"{meta['namespace']}-{meta['name']}-{uid[:8]}"
                run = PodRun(pod, folder, folder / "train.log")
                self.runs[uid] = run
                self.by_name[run.key] = run
                threading.Thread(target=self._run, args=(run,), daemon=True).start()
            else:
                run.pod = pod
        if event == "DELETED" or meta.get("deletionTimestamp"):
            run.deleting.set()

    def _run(self, run: PodRun) -> None:
        try:
            self._live(run)
        except Exception:
            log.exception("simulated kubelet: pod %s/%s", *run.key)
        finally:
            run.finished.set()
            if run.proc is not None and run.proc.poll() is None:
                signal_group(run.proc, signal.SIGKILL)
                run.proc.wait()

    def _live(self, run: PodRun) -> None:
        container = run.pod["spec"]["containers"][0]
        image = container.get("image", "")
        if not image.startswith(self.images):
            message = f'Back-off pulling image "{image}": not found in the simulated registry'
            self._write_waiting(run, "ImagePullBackOff", message)
            self._until_deleted(run)
            return
        while True:
            try:
                env = container_environment(self.core, run, container, self.image_env)
                break
            except ConfigError as exc:
                self._write_waiting(run, "CreateContainerConfigError", str(exc))
                if run.deleting.wait(1.0):
                    self._until_deleted(run)
                    return
        if run.deleting.is_set():
            self._until_deleted(run)
            return
        started = now()
        argv = [expand(part, env) for part in (container.get("command") or [])]
        argv += [expand(part, env) for part in (container.get("args") or [])]
        if argv and argv[0] == "python":
            argv[0] = sys.executable  # the image's interpreter
        workdir = map_path(run, container, container.get("workingDir") or "/")
        Path(workdir).mkdir(parents=True, exist_ok=True)
        run.folder.mkdir(parents=True, exist_ok=True)
        with run.log_path.open("ab") as out:
            run.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        write_status(self.core, run, running_status(run, container, started))
        limit = memory_limit(container)
        oom = stopping = False
        while run.proc.poll() is None:
            if limit is not None and resident_bytes(run.proc.pid) > limit:
                signal_group(run.proc, signal.SIGKILL)
                oom = True
            elif run.evicted is not None:
                signal_group(run.proc, signal.SIGKILL)
            elif run.deleting.is_set() and not stopping:
                stopping = True
                self._terminate(run)
            time.sleep(0.05)
        run.proc.wait()
        code = run.proc.returncode
        code = 128 - code if code < 0 else code  # killed by a signal: 128 + its number
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        status = terminated_status(run, container, started, code, reason)
        write_status(self.core, run, status)
        self._until_deleted(run)

    def _terminate(self, run: PodRun) -> None:
        assert run.proc is not None
        meta, spec = run.pod["metadata"], run.pod["spec"]
        grace = meta.get("deletionGracePeriodSeconds")
        grace = spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace
        signal_group(run.proc, signal.SIGTERM)
        try:
            run.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(run.proc, signal.SIGKILL)

    def _until_deleted(self, run: PodRun) -> None:
        """A finished Pod stays until it is deleted; then the kubelet removes it for good."""
        while not run.deleting.wait(0.5) or self._closed.is_set():
            if self._closed.is_set():
                return
        name, namespace = run.pod["metadata"]["name"], run.pod["metadata"]["namespace"]
        try:
            # The options in the body: with a body, the API server ignores query parameters.
            options = {"gracePeriodSeconds": 0, "preconditions": {"uid": run.uid}}
            self.core.delete_namespaced_pod(name, namespace, body=options)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise
        with self._lock:
            if self.by_name.get(run.key) is run:
                del self.by_name[run.key]

    def _write_waiting(self, run: PodRun, reason: str, message: str) -> None:
        write_status(self.core, run, waiting_status(run, reason, message))
