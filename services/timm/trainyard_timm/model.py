"""Build a timm model, loading pretrained weights only from what is already on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_pretrained_cfg

from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason

HOW_TO_PROVIDE = (
    "Provide weights by setting options.pretrained_file to a local .pth/.safetensors file, "
    "or fill the Hugging Face cache (HF_HOME) beforehand where there is network, e.g. "
    "`HF_HUB_OFFLINE=0 python -c \"import timm; timm.create_model('<model>', pretrained=True)\"`, "
    "or train with hyperparams.pretrained=false."
)


def _where_looked(name: str, cfg: Any) -> str:
    from huggingface_hub import constants

    places = []
    if cfg is not None and cfg.hf_hub_id:
        places.append(f"Hugging Face cache {constants.HF_HUB_CACHE} (repo {cfg.hf_hub_id})")
    elif cfg is not None and cfg.url:  # timm prefers the hub; the URL only without a hub id
        places.append(f"torch hub cache {Path(torch.hub.get_dir()) / 'checkpoints'}")
    return "; ".join(places) or f"nowhere: timm knows no pretrained weights for {name!r}"


def _unavailable(name: str, cfg: Any, detail: str = "") -> TrainingError:
    msg = f"pretrained weights for {name!r} are not available offline (looked in: "
    msg += f"{_where_looked(name, cfg)}). {HOW_TO_PROVIDE.replace('<model>', name)}"
    return TrainingError(
        FailureReason.PRETRAINED_UNAVAILABLE, msg + (f" [{detail}]" if detail else "")
    )


def create(
    name: str, num_classes: int, pretrained: bool, drop_rate: float, pretrained_file: str | None
) -> torch.nn.Module:
    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if drop_rate:  # only when asked: not every architecture takes the argument
        kwargs["drop_rate"] = drop_rate
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs)
    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError:
        cfg = None
    if pretrained_file:
        path = Path(pretrained_file).expanduser()
        if not path.is_file():
            raise TrainingError(
                FailureReason.PRETRAINED_UNAVAILABLE,
                f"options.pretrained_file {path} does not exist",
            )
        # timm loads a `file` source before any hub or URL, and drops a mismatched classifier.
        kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
    elif cfg is None:
        raise _unavailable(name, cfg)
    elif not cfg.hf_hub_id and cfg.url:
        # URL-only weights would be downloaded by torch.hub: only use an existing cached copy.
        from timm.models._hub import check_cached_file

        if not check_cached_file(cfg.url):
            raise _unavailable(name, cfg)
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except TrainingError:
        raise
    except Exception as exc:  # hub offline errors, missing cache entries, bad files
        if pretrained_file:
            raise TrainingError(
                FailureReason.PRETRAINED_UNAVAILABLE,
                f"could not load options.pretrained_file {pretrained_file}: "
                f"{type(exc).__name__}: {exc}",
            ) from exc
        raise _unavailable(name, cfg, f"{type(exc).__name__}: {str(exc)[:300]}") from exc


def normalization(model: torch.nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std the model's weights expect (ImageNet's when it has no config)."""
    cfg = timm.data.resolve_data_config({}, model=model)
    return tuple(cfg["mean"]), tuple(cfg["std"])
