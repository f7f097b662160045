"""docker/torch_variant.py on the real uv.lock: what a cpu image leaves out and adds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType

import pytest

from tests.deploy.deploy_files import REPO


def _load_torch_variant() -> ModuleType:
    """docker/torch_variant.py is a script the Dockerfiles run, not a package: load it by path."""
    spec = importlib.util.spec_from_file_location(
        "torch_variant", REPO / "docker" / "torch_variant.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


torch_variant = _load_torch_variant()


@pytest.fixture(scope="module")
def packages() -> dict:
    return torch_variant.load_lock(REPO / "uv.lock")


def left_out(args: list[str]) -> set[str]:
    assert args[::2] == ["--no-install-package"] * (len(args) // 2)
    return set(args[1::2])


def test_cuda_is_the_lock_as_it_is(packages: dict) -> None:
    assert torch_variant.sync_args("cuda", packages) == []


def test_cpu_leaves_out_torch_and_its_gpu_wheels_only(packages: dict) -> None:
    names = left_out(torch_variant.sync_args("cpu", packages))
    assert {"torch", "torchvision", "triton"} <= names
    assert any(n.startswith("nvidia-cudnn") for n in names)
    # Ultralytics needs nvidia-ml-py for itself; numpy etc. are never touched.
    assert "nvidia-ml-py" not in names and "numpy" not in names
    assert names <= set(packages)


def test_cpu_pins_are_the_locked_versions(packages: dict) -> None:
    assert torch_variant.cpu_pins(packages) == [
        f"torch=={packages['torch']['version']}",
        f"torchvision=={packages['torchvision']['version']}",
    ]


def test_unknown_variant_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "docker/torch_variant.py", "sync-args", "rocm"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "cpu or cuda" in result.stderr
