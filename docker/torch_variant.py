"""Which torch a service image installs: the lock's own (cuda) or the PyTorch CPU build (cpu).

The frozen uv.lock pins PyPI's torch, which on Linux x86_64 is the CUDA build with its nvidia-*
and triton wheels; an index override cannot change a frozen lock. So for `cpu` the image syncs
the lock without torch, torchvision and the GPU-only packages torch pulls in, then installs the
same torch and torchvision versions from the PyTorch CPU index. Every other package stays the
locked, hash-checked one.

    python docker/torch_variant.py sync-args cpu|cuda   # extra `uv sync` arguments, one a line
    python docker/torch_variant.py cpu-pins             # torch==X and torchvision==Y from the lock
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

LOCK = Path("uv.lock")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
REPLACED = ("torch", "torchvision")
# Names of the CUDA runtime wheels; only those torch itself pulls in are left out.
GPU_PREFIXES = ("nvidia-", "cuda-", "triton")


def load_lock(path: Path = LOCK) -> dict[str, dict[str, Any]]:
    with path.open("rb") as lock:
        return {package["name"]: package for package in tomllib.load(lock)["package"]}


def _dependencies(package: dict[str, Any]) -> list[str]:
    names = []
    for dep in package.get("dependencies", []):
        names.append(dep["name"])
    # Extras torch asks for (cuda-toolkit[cublas, …]) name their own dependencies.
    for deps in package.get("optional-dependencies", {}).values():
        names.extend(dep["name"] for dep in deps)
    return names


def gpu_only_packages(packages: dict[str, dict[str, Any]]) -> set[str]:
    """The GPU runtime packages reachable from torch (not e.g. nvidia-ml-py, which Ultralytics
    needs on its own)."""
    found: set[str] = set()
    todo = ["torch"]
    while todo:
        for name in _dependencies(packages[todo.pop()]):
            if name.startswith(GPU_PREFIXES) and name not in found and name in packages:
                found.add(name)
                todo.append(name)
    return found


def sync_args(variant: str, packages: dict[str, dict[str, Any]]) -> list[str]:
    if variant == "cuda":
        return []
    if variant != "cpu":
        raise SystemExit(f"TORCH_VARIANT must be cpu or cuda, not {variant!r}")
    left_out = sorted(set(REPLACED) | gpu_only_packages(packages))
    return [arg for name in left_out for arg in ("--no-install-package", name)]


def cpu_pins(packages: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{name}=={packages[name]['version']}" for name in REPLACED]


def main(argv: list[str]) -> None:
    packages = load_lock()
    if argv[:1] == ["sync-args"] and len(argv) == 2:
        print("\n".join(sync_args(argv[1], packages)))
    elif argv == ["cpu-pins"]:
        print("\n".join(cpu_pins(packages)))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
