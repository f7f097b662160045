"""Helpers every framework's train.py and service share about the torch runtime.

torch is imported inside the functions: the shared package itself does not depend on it,
only the framework environments that call these do.
"""

from __future__ import annotations

import os
import random
from importlib import metadata

# Weights come only from files and caches already on this machine: a pod or a laptop without
# network must fail fast on missing weights instead of waiting on a download. The hub clients
# read these once, when first imported, so they are set before any framework is (by the service
# as it starts, by run_training before train.py's train function); one set in the environment
# already (HF_HUB_OFFLINE=0 to fill a cache on purpose) is left as it is.
HUB_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def stay_offline() -> None:
    for name, value in HUB_OFFLINE.items():
        os.environ.setdefault(name, value)


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
