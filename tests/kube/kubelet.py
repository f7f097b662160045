"""The kubelet of the test cluster's simulated Nodes: each Pod runs as a local process.

kwok keeps the Nodes Ready but runs nothing. `SimulatedKubelet` does a kubelet's part for
every Pod the scheduler binds to those Nodes, through the API server, as a kubelet would:

- resolves the container's environment: plain values, Secret and ConfigMap keys
  (`valueFrom`) and whole Secrets and ConfigMaps (`envFrom`, optional or not), read from the API;
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

import base64
import contextlib
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import watch
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

log = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
NODE_IP = "127.0.0.1"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConfigError(Exception):
    """The container cannot be created (a missing Secret, ConfigMap or key)."""


@dataclass
class PodRun:
    """One Pod on one of the simulated nodes, from its start to its deletion."""

    pod: dict[str, Any]
    folder: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    deleting: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    evicted: str | None = None

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def key(self) -> tuple[str, str]:
        return self.pod["metadata"]["namespace"], self.pod["metadata"]["name"]


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
        self._server = self._log_server(*tls)
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
                _signal_group(run.proc, signal.SIGKILL)
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
                _signal_group(run.proc, signal.SIGKILL)
                run.proc.wait()

    def _live(self, run: PodRun) -> None:
        container = run.pod["spec"]["containers"][0]
        image = container.get("image", "")
        if not image.startswith(self.images):
            message = f'Back-off pulling image "{image}": not found in the simulated registry'
            self._waiting(run, "ImagePullBackOff", message)
            self._until_deleted(run)
            return
        while True:
            try:
                env = self._environment(run, container)
                break
            except ConfigError as exc:
                self._waiting(run, "CreateContainerConfigError", str(exc))
                if run.deleting.wait(1.0):
                    self._until_deleted(run)
                    return
        if run.deleting.is_set():
            self._until_deleted(run)
            return
        started = now()
        argv = [*(container.get("command") or []), *(container.get("args") or [])]
        if argv and argv[0] == "python":
            argv[0] = sys.executable  # the image's interpreter
        workdir = self._map_path(run, container, container.get("workingDir") or "/")
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
        self._write_status(run, self._running_status(run, container, started))
        limit = _memory_limit(container)
        oom = stopping = False
        while run.proc.poll() is None:
            if limit is not None and _resident_bytes(run.proc.pid) > limit:
                _signal_group(run.proc, signal.SIGKILL)
                oom = True
            elif run.evicted is not None:
                _signal_group(run.proc, signal.SIGKILL)
            elif run.deleting.is_set() and not stopping:
                stopping = True
                self._terminate(run)
            time.sleep(0.05)
        run.proc.wait()
        code = run.proc.returncode
        code = 128 - code if code < 0 else code  # killed by a signal: 128 + its number
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        status = self._terminated_status(run, container, started, code, reason)
        self._write_status(run, status)
        self._until_deleted(run)

    def _terminate(self, run: PodRun) -> None:
        assert run.proc is not None
        meta, spec = run.pod["metadata"], run.pod["spec"]
        grace = meta.get("deletionGracePeriodSeconds")
        grace = spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace
        _signal_group(run.proc, signal.SIGTERM)
        try:
            run.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(run.proc, signal.SIGKILL)

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

    # -- environment ------------------------------------------------------------------------

    def _read(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        read = (
            self.core.read_namespaced_secret
            if kind == "secret"
            else (self.core.read_namespaced_config_map)
        )
        try:
            obj = json.loads(read(name, namespace, _preload_content=False).data)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        if kind == "secret":
            return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        return dict(obj.get("data") or {})

    def _environment(self, run: PodRun, container: dict[str, Any]) -> dict[str, str]:
        namespace = run.pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            kind, ref = (
                ("secret", source["secretRef"])
                if "secretRef" in source
                else ("configmap", source["configMapRef"])
            )
            values = self._read(kind, namespace, ref["name"])
            if values is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{kind} "{ref["name"]}" not found')
            prefix = source.get("prefix", "")
            env |= {prefix + k: v for k, v in values.items()}
        for var in container.get("env") or []:
            if "valueFrom" not in var:
                env[var["name"]] = var.get("value", "")
                continue
            source = var["valueFrom"]
            if "secretKeyRef" in source or "configMapKeyRef" in source:
                kind = "secret" if "secretKeyRef" in source else "configmap"
                ref = source.get("secretKeyRef") or source["configMapKeyRef"]
                values = self._read(kind, namespace, ref["name"])
                if values is None or ref["key"] not in values:
                    if ref.get("optional"):
                        continue
                    what = f'{kind} "{ref["name"]}"'
                    raise ConfigError(
                        f"{what} not found" if values is None else f"key {ref['key']} not in {what}"
                    )
                env[var["name"]] = values[ref["key"]]
            elif "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                env[var["name"]] = str(run.pod["metadata"].get(path.split(".", 1)[1], ""))
            else:
                raise ConfigError(f"unsupported env source for {var['name']}: {source}")
        env = {k: self._map_path(run, container, v) for k, v in env.items()}
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(run.folder)}
        paths = [env.get("PYTHONPATH"), self.image_env.get("PYTHONPATH")]
        merged = {**base, **self.image_env, **env}
        merged["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        return merged

    def _map_path(self, run: PodRun, container: dict[str, Any], value: str) -> str:
        """A path inside one of the container's mounts, as the folder standing for it."""
        for mount in container.get("volumeMounts") or []:
            point = mount["mountPath"].rstrip("/")
            if value == point or value.startswith(point + "/"):
                local = run.folder / "volumes" / mount["name"]
                local.mkdir(parents=True, exist_ok=True)
                return str(local) + value[len(point) :]
        return value

    # -- status ------------------------------------------------------------------------------

    def _conditions(self, run: PodRun, ready: bool, reason: str | None = None) -> list[dict]:
        stamp = now()
        mine = {"PodReadyToStartContainers": True, "Initialized": True}
        mine |= {"ContainersReady": ready, "Ready": ready}
        kept = [
            c
            for c in (run.pod.get("status") or {}).get("conditions") or []
            if c["type"] not in mine
        ]
        for kind, value in mine.items():
            cond = {"type": kind, "status": str(value), "lastTransitionTime": stamp}
            if not value and reason and kind in ("ContainersReady", "Ready"):
                cond["reason"] = reason
            kept.append(cond)
        return kept

    def _container(self, container: dict[str, Any], state: dict[str, Any], ready: bool) -> dict:
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

    def _waiting(self, run: PodRun, reason: str, message: str) -> None:
        container = run.pod["spec"]["containers"][0]
        state = {"waiting": {"reason": reason, "message": message}}
        status = {
            "phase": "Pending",
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "startTime": (run.pod.get("status") or {}).get("startTime") or now(),
            "conditions": self._conditions(run, False, "ContainersNotReady"),
            "containerStatuses": [self._container(container, state, False)],
        }
        self._write_status(run, status)

    def _running_status(self, run: PodRun, container: dict[str, Any], started: str) -> dict:
        state = {"running": {"startedAt": started}}
        return {
            "phase": "Running",
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "podIP": NODE_IP,
            "podIPs": [{"ip": NODE_IP}],
            "startTime": (run.pod.get("status") or {}).get("startTime") or started,
            "conditions": self._conditions(run, True),
            "containerStatuses": [self._container(container, state, True)],
        }

    def _terminated_status(
        self, run: PodRun, container: dict[str, Any], started: str, code: int, reason: str
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
            "conditions": self._conditions(
                run, False, "PodCompleted" if code == 0 else "PodFailed"
            ),
            "containerStatuses": [self._container(container, state, False)],
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

    def _write_status(self, run: PodRun, status: dict[str, Any]) -> None:
        name, namespace = run.pod["metadata"]["name"], run.pod["metadata"]["namespace"]
        try:
            written = self.core.patch_namespaced_pod_status(
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

    # -- the kubelet API: container logs -----------------------------------------------------

    def _log_server(self, cert: Path, key: Path, ca: Path) -> ThreadingHTTPServer:
        kubelet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                parts = url.path.strip("/").split("/")
                kubelet.log_requests.append((url.path, query))
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(404)
                    return
                run = kubelet.by_name.get((parts[1], parts[2]))
                if run is None or run.proc is None:
                    self.send_error(400, f'container "{parts[3]}" is waiting to start')
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                tail = int(query["tailLines"]) if "tailLines" in query else None
                for chunk in kubelet._log_chunks(run, tail, query.get("follow") == "true"):
                    self.wfile.write(chunk)
                    self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((NODE_IP, 0), Handler)
        server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
        server.socket = context.wrap_socket(server.socket, server_side=True)
        return server

    def _log_chunks(self, run: PodRun, tail: int | None, follow: bool) -> Iterator[bytes]:
        with run.log_path.open("rb") as f:
            data = f.read()
            if tail is not None:
                lines = data.splitlines(keepends=True)
                data = b"".join(lines[-tail:]) if tail > 0 else b""
            yield data
            while follow:
                more = f.read()
                if more:
                    yield more
                elif run.proc is not None and run.proc.poll() is not None:
                    yield f.read()
                    return
                else:
                    time.sleep(0.05)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _memory_limit(container: dict[str, Any]) -> int | None:
    limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(parse_quantity(limit)) if limit else None


def _resident_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0
