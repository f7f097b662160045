"""Build a timm model; pretrained weights come through the platform's weights tiers.

The tiers (trainyard_runtime.weights) serve a timm model's weights file from the local cache,
object storage or the Hugging Face hub repository timm names for the model; timm then loads
that file (`pretrained_cfg_overlay={"file": …}`), never the hub itself. A job's
options.pretrained_file (a local file) bypasses the tiers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_pretrained_cfg

from trainyard_runtime.training import TrainingContext, TrainingError
from trainyard_runtime.weights.access import WeightsAccess
from trainyard_runtime.weights.hub import HubSource
from trainyard_wire.failures import FailureReason

# What timm loads from a hub repository, in its order of preference.
HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hub_repo(name: str) -> str | None:
    """The hub repository timm takes the model's weights from; None when it names none."""
    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:
        return None
    return cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id else None


def hub_source(name: str, access: WeightsAccess) -> HubSource | None:
    repo = hub_repo(name)
    if repo is None:
        return None
    return HubSource(
        repo, one_of=HUB_WEIGHT_FILES, endpoint=access.hf_endpoint, token=access.hf_token
    )


def pretrained_file(ctx: TrainingContext, pretrained_file_option: str | None) -> Path | None:
    """The weights file a job starts from: options.pretrained_file, else the tiers' copy."""
    if not ctx.spec.hyperparams.pretrained:
        return None
    if pretrained_file_option:
        path = Path(pretrained_file_option).expanduser()
        if not path.is_file():
            raise TrainingError(
                FailureReason.PRETRAINED_UNAVAILABLE,
                f"options.pretrained_file {path} does not exist",
            )
        return path
    model = ctx.spec.model
    resolved = ctx.pretrained_weights(model, hub_source(model, ctx.weights_access))
    return resolved.file()


def create(name: str, num_classes: int, drop_rate: float, weights: Path | None) -> torch.nn.Module:
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if drop_rate:  # only when asked: not every architecture takes the argument
        kwargs["drop_rate"] = drop_rate
    if weights is None:
        return timm.create_model(name, pretrained=False, **kwargs)
    try:
        # timm loads a `file` source before any hub or URL, and drops a mismatched classifier.
        return timm.create_model(
            name, pretrained=True, pretrained_cfg_overlay={"file": str(weights)}, **kwargs
        )
    except Exception as exc:  # a file of another architecture, an unreadable file
        raise TrainingError(
            FailureReason.PRETRAINED_MISMATCH,
            f"could not load the pretrained weights {weights} into {name}: "
            f"{type(exc).__name__}: {str(exc)[:300]}",
        ) from exc


def load_weights(folder: Path, name: str) -> None:
    """Load a folder of seeded weights into the model as a run would (one weights file)."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"]
    if len(files) != 1:
        raise ValueError(f"timm weights are one file (.safetensors/.pth/.bin), got {len(files)}")
    # Two classes: timm then drops the file's classifier and checks the backbone alone.
    create(name, 2, 0.0, files[0])


def normalization(model: torch.nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std the model's weights expect (ImageNet's when it has no config)."""
    cfg = timm.data.resolve_data_config({}, model=model)
    return tuple(cfg["mean"]), tuple(cfg["std"])
