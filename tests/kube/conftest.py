"""The Kubernetes tier's tests run against a real control plane (tests/kube/controlplane.py),
started once per test session (per xdist worker) when a test asks for `cluster`; the
executor tests' `admin` client and `executor` are made here too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient

from trainyard_servicekit.executors.kubernetes.executor import KubernetesExecutor

from .controlplane import REPO, ControlPlane, binaries_dir, missing_binaries, running_control_plane
from .executor_support import new_executor


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"the test control plane is not built ({', '.join(missing)} missing from "
            f"{binaries_dir()}): run `make cluster` (needs Go 1.26)"
        )
    # The simulated kubelet runs the pods' `python -m ...` with this interpreter; the test
    # packages (toy_framework, kube.workload) stand in for what a training image installs.
    image_env = {"PYTHONPATH": str(REPO / "tests")}
    with running_control_plane(tmp_path_factory.mktemp("kube"), image_env) as plane:
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if capture is not None and reporter is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(
                    f"\nKubernetes control plane at {plane.url} ready in "
                    f"{plane.timings['ready']:.1f}s (API server {plane.timings['apiserver']:.1f}s)"
                )
        yield plane


@pytest.fixture(scope="module")
def admin(cluster: ControlPlane) -> Iterator[ApiClient]:
    """Cluster admin, for the test's own reads and the odd deliberate interference."""
    client = cluster.admin_client()
    yield client
    client.close()


@pytest.fixture
def executor(cluster: ControlPlane) -> Iterator[KubernetesExecutor]:
    ex = new_executor(cluster)
    yield ex
    ex.close()
