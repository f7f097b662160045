"""Helpers every framework's train.py and service share about the torch runtime.

torch is imported inside the functions: the shared package itself does not depend on it,
only the framework environments that call these do.
"""

from __future__ import annotations

import random
from importlib import metadata


def package_versions(*names: str) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        return f"cuda ({count}x {torch.cuda.get_device_name(0)})"
    return "cpu"


def choose_device(gpus: int | None) -> str:
    """`cuda` when a GPU is visible and the job did not ask for CPU only (gpus=0)."""
    import torch

    if gpus == 0 or not torch.cuda.is_available():
        return "cpu"
    return "cuda"


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
