"""A real gateway and toy training service shared by a module's tests, and the real
`trainyard` executable to drive them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.datasets import tiny_dataset
from tests.support.jobs import toy_spec
from tests.support.processes import Gateway, Processes
from trainyard_client import Client

# The console script installed next to the interpreter running the tests.
TRAINYARD = Path(sys.executable).parent / "trainyard"
# The shared gateway asks for a key, so every test also checks that the key is sent.
API_KEY = "client-test-key"
RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway (asking for API_KEY) and one toy service for every test of the client."""
    processes = Processes(tmp_path_factory.mktemp("client-stack"))
    try:
        _, service_url = processes.toy_service()
        yield processes.gateway(
            TRAINYARD_EXTRA_SERVICES=f"toy={service_url}", TRAINYARD_API_KEYS=API_KEY
        )
    finally:
        processes.stop_all()


@pytest.fixture(scope="package")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("dataset") / "shapes")


def run_trainyard(
    *args: str, url: str | None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `trainyard ARGS…` as a user would: its own process, output captured (not a TTY)."""
    if not TRAINYARD.exists():
        pytest.fail(f"{TRAINYARD} is missing: run `make setup` first")
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TRAINYARD_URL", "TRAINYARD_API_KEY", "TRAINYARD_RETRIES"}
    }
    environment.update({"TRAINYARD_URL": url} if url else {})
    environment.update(env or {})
    return subprocess.run(
        [str(TRAINYARD), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def cli(stack: Gateway) -> RunCli:
    """`cli("list", "--json")` against the module's gateway, its key in TRAINYARD_API_KEY."""

    def run(
        *args: str, env: dict[str, str] | None = None, **kwargs
    ) -> subprocess.CompletedProcess[str]:
        environment = {"TRAINYARD_API_KEY": API_KEY, **(env or {})}
        return run_trainyard(*args, url=stack.url, env=environment, **kwargs)

    return run


@pytest.fixture
def api(stack: Gateway) -> Iterator[Client]:
    """The Python client, talking to the package's gateway with its key."""
    with Client(stack.url, API_KEY) as client:
        yield client


@pytest.fixture
def toy_spec_for(dataset_dir: Path) -> Callable[..., dict[str, Any]]:
    """`toy_spec_for(epochs=3, options={...}, project=...)`: a toy job on the shared dataset."""

    def make(epochs: int = 1, **overrides: Any) -> dict[str, Any]:
        return toy_spec(dataset_dir, hyperparams={"epochs": epochs}, **overrides)

    return make


@pytest.fixture
def queued_spec(toy_spec_for: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A timm job: no timm service runs here, so it is accepted and stays queued, using no CPU."""

    def make(**overrides: Any) -> dict[str, Any]:
        return toy_spec_for(framework="timm", model="resnet18", options={}, **overrides)

    return make
