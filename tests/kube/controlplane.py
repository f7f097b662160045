"""A real Kubernetes control plane on loopback ports, built from Kubernetes' own sources.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler as `make cluster`
(k8s/controlplane/build.sh) builds them, and kwok keeping two simulated Nodes alive: a CPU
node and a GPU node that advertises `nvidia.com/gpu` (tainted, as GPU nodes usually are;
see simulated_nodes.py).
The repository's manifests (namespace, RBAC, quota) are applied as cluster admin; code under
test talks to the cluster with a token of the `trainyard-service` ServiceAccount, so it holds
exactly what the Role in k8s/rbac.yaml grants.

No container runtime and no kubelet run: `kubelet.SimulatedKubelet` plays the kubelet of both
nodes. Everything else — storage, authentication, RBAC, admission (PodSecurity, ResourceQuota,
ServiceAccount), the Job, garbage-collector, TTL and quota controllers, the scheduler — is
the real thing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import utils
from kubernetes.client import ApiClient, Configuration, CoreV1Api
from kubernetes.client.exceptions import ApiException

from tests.support.server_s3 import free_ports
from trainyard_dev.launcher import ManagedProcess

from .certs import Certs, make_certs
from .kubelet import SimulatedKubelet
from .simulated_nodes import KWOK_ANNOTATION, NODES, create_nodes, nodes_ready

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "k8s" / "controlplane"
MANIFESTS = tuple(REPO / "k8s" / name for name in ("namespace.yaml", "rbac.yaml", "quota.yaml"))
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NAMESPACE = "training"
SERVICE_ACCOUNT = "trainyard-service"
# What the tests rely on, nothing more: fewer controllers start faster.
CONTROLLERS = (
    "job-controller",
    "garbage-collector-controller",
    "ttl-after-finished-controller",
    "resourcequota-controller",
    "serviceaccount-controller",  # the namespace's `default` ServiceAccount, which pods need
    # Lifts the not-ready taint the API server puts on a new Node once kwok reports it Ready.
    "node-lifecycle-controller",
)
ADMISSION = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "PodSecurity",
    "Priority",
    "DefaultTolerationSeconds",
    "ResourceQuota",
)


def binaries_dir() -> Path:
    """Where build.sh puts the binaries: the same hash of the same files, the same cache."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "kwok/go.mod", "kwok/go.sum", "build.sh"):
        digest.update((SOURCES / name).read_bytes())
    root = os.environ.get("TRAINYARD_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trainyard"
    )
    return Path(root) / f"controlplane-{digest.hexdigest()[:16]}" / "bin"


def missing_binaries() -> list[str]:
    folder = binaries_dir()
    return [name for name in BINARIES if not os.access(folder / name, os.X_OK)]


def kubeconfig(server: str, ca: Path, user: dict[str, str], namespace: str = NAMESPACE) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "test", "cluster": {"server": server, "certificate-authority": str(ca)}}
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [
                {
                    "name": "test",
                    "context": {"cluster": "test", "user": "user", "namespace": namespace},
                }
            ],
            "current-context": "test",
        }
    )


@dataclass
class ControlPlane:
    root: Path
    url: str
    certs: Certs
    admin_kubeconfig: Path
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    kubelet: SimulatedKubelet | None = None
    _service_token: str | None = None

    def _client(self, **auth: str) -> ApiClient:
        configuration = Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.certs.ca.cert)
        if "token" in auth:
            configuration.api_key = {"authorization": f"Bearer {auth['token']}"}
        else:
            configuration.cert_file = str(self.certs.admin.cert)
            configuration.key_file = str(self.certs.admin.key)
        return ApiClient(configuration)

    def admin_client(self) -> ApiClient:
        """Cluster admin (group system:masters): the test's side, setup and checks."""
        return self._client()

    def service_token(self) -> str:
        """A token of the trainyard-service ServiceAccount (TokenRequest API), made once."""
        if self._service_token is None:
            with self.admin_client() as api:
                request = {"spec": {"expirationSeconds": 4 * 3600}}
                made = CoreV1Api(api).create_namespaced_service_account_token(
                    SERVICE_ACCOUNT, NAMESPACE, request
                )
            self._service_token = made.status.token
        return self._service_token

    def service_client(self) -> ApiClient:
        """What a training service holds: the ServiceAccount bound to the Role in k8s/."""
        return self._client(token=self.service_token())

    def write_service_kubeconfig(self, path: Path) -> Path:
        user = {"token": self.service_token()}
        path.write_text(kubeconfig(self.url, self.certs.ca.cert, user))
        return path

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{proc.tail(30)}" for name, proc in self.processes.items()
        )


def _wait(what: str, check: Any, timeout: float, plane: ControlPlane | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if plane is not None:
            for name, proc in plane.processes.items():
                if not proc.alive():
                    raise RuntimeError(f"{name} exited early:\n{proc.tail(60)}")
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(
        f"{what} not ready after {timeout}s ({last})\n{plane.logs() if plane else ''}"
    )


def _start(plane: ControlPlane, name: str, argv: list[str], **env: str) -> ManagedProcess:
    proc = ManagedProcess(name, argv, env, plane.root / f"{name}.log", cwd=plane.root).start()
    plane.processes[name] = proc
    return proc


def _start_etcd(plane: ControlPlane, bin_dir: Path, client: int, peer: int) -> str:
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    _start(
        plane,
        "etcd",
        [
            str(bin_dir / "etcd"),
            "--name=test",
            f"--data-dir={plane.root / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=test={peer_url}",
            "--unsafe-no-fsync=true",  # a throwaway store: no fsync waits
            "--log-level=warn",
        ],
    )
    _wait(
        "etcd", lambda: httpx.get(f"{url}/health", timeout=1).json()["health"] == "true", 30, plane
    )
    return url


def _start_apiserver(plane: ControlPlane, bin_dir: Path, etcd: str, port: int) -> None:
    certs = plane.certs
    _start(
        plane,
        "kube-apiserver",
        [
            str(bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={certs.apiserver.cert}",
            f"--tls-private-key-file={certs.apiserver.key}",
            f"--client-ca-file={certs.ca.cert}",
            "--anonymous-auth=false",
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={','.join(ADMISSION)}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={certs.service_account.cert}",
            f"--service-account-signing-key-file={certs.service_account.key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            f"--kubelet-certificate-authority={certs.ca.cert}",
            f"--kubelet-client-certificate={certs.kubelet_client.cert}",
            f"--kubelet-client-key={certs.kubelet_client.key}",
            "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=false",
            "--endpoint-reconciler-type=none",  # no `kubernetes` Service endpoints to keep
            "--profiling=false",
            f"--cert-dir={plane.root / 'apiserver-certs'}",
        ],
    )
    context = ssl.create_default_context(cafile=str(certs.ca.cert))
    context.load_cert_chain(certs.admin.cert, certs.admin.key)
    with httpx.Client(verify=context, timeout=2) as http:
        _wait(
            "kube-apiserver", lambda: http.get(f"{plane.url}/readyz").status_code == 200, 90, plane
        )


def _apply_manifests(plane: ControlPlane) -> None:
    with plane.admin_client() as api:
        for path in MANIFESTS:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    utils.create_from_dict(api, doc)


def _create_nodes(plane: ControlPlane, kubelet_port: int) -> None:
    with plane.admin_client() as api:
        create_nodes(api, kubelet_port)


def _nodes_ready(plane: ControlPlane) -> bool:
    with plane.admin_client() as api:
        return nodes_ready(api)


def _default_service_account(plane: ControlPlane) -> bool:
    with plane.admin_client() as api:
        try:
            CoreV1Api(api).read_namespaced_service_account("default", NAMESPACE)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
    return True


@contextmanager
def running_control_plane(root: Path, image_env: dict[str, str]) -> Iterator[ControlPlane]:
    """etcd, the API server, controller manager, scheduler, kwok with two Nodes and the
    simulated kubelet of those Nodes (`image_env`: see SimulatedKubelet); all stopped at the
    end, and etcd's data removed."""
    missing = missing_binaries()
    if missing:
        raise FileNotFoundError(
            f"control plane binaries missing from {binaries_dir()}: {', '.join(missing)}; "
            "run `make cluster` (needs Go 1.26 and the Go module proxy)"
        )
    bin_dir = binaries_dir()
    root.mkdir(parents=True, exist_ok=True)
    etcd_port, peer_port, api_port = free_ports(3)
    began = time.monotonic()
    certs = make_certs(root / "pki")
    admin_kubeconfig = root / "admin.kubeconfig"
    plane = ControlPlane(root, f"https://127.0.0.1:{api_port}", certs, admin_kubeconfig)
    admin_kubeconfig.write_text(
        kubeconfig(
            plane.url,
            certs.ca.cert,
            {"client-certificate": str(certs.admin.cert), "client-key": str(certs.admin.key)},
        )
    )
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root / "etcd", ignore_errors=True)
        stack.callback(_stop_all, plane)
        etcd = _start_etcd(plane, bin_dir, etcd_port, peer_port)
        _start_apiserver(plane, bin_dir, etcd, api_port)
        plane.timings["apiserver"] = time.monotonic() - began
        common = [f"--kubeconfig={admin_kubeconfig}", "--leader-elect=false", "--secure-port=0"]
        _start(
            plane,
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                *common,
                f"--controllers={','.join(CONTROLLERS)}",
                f"--root-ca-file={certs.ca.cert}",
                f"--service-account-private-key-file={certs.service_account.key}",
                "--concurrent-job-syncs=5",
            ],
        )
        _start(plane, "kube-scheduler", [str(bin_dir / "kube-scheduler"), *common])
        _apply_manifests(plane)
        kubelet = SimulatedKubelet(
            plane.admin_client(),
            root / "pods",
            {node.name for node in NODES},
            tls=(certs.kubelet.cert, certs.kubelet.key, certs.ca.cert),
            image_env=image_env,
        ).start()
        stack.callback(kubelet.stop)
        plane.kubelet = kubelet
        _create_nodes(plane, kubelet.port)
        kwok_home = root / "kwok-home"  # kwok reads ~/.kwok/kwok.yaml when there is one
        kwok_home.mkdir()
        _start(
            plane,
            "kwok",
            [
                str(bin_dir / "kwok"),
                f"--kubeconfig={admin_kubeconfig}",
                f"--config={SOURCES / 'kwok-stages.yaml'}",
                f"--manage-nodes-with-annotation-selector={'='.join(KWOK_ANNOTATION)}",
                "--node-lease-duration-seconds=40",
            ],
            HOME=str(kwok_home),
        )
        _wait("kwok nodes", lambda: _nodes_ready(plane), 60, plane)
        _wait("the default ServiceAccount", lambda: _default_service_account(plane), 60, plane)
        plane.timings["ready"] = time.monotonic() - began
        yield plane


def _stop_all(plane: ControlPlane) -> None:
    # Clients first, the store last; each in its own process group, killed if it lingers.
    for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
        proc = plane.processes.get(name)
        if proc is not None:
            proc.stop(timeout=10)
