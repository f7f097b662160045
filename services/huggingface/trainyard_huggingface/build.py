"""Build a transformers image classifier from a job (config or pretrained weights), and
save/rebuild the single-file checkpoints this service writes.

Pretrained weights of a hub id come through the weights tiers (local cache, object storage,
the Hugging Face hub at HF_ENDPOINT); transformers then loads the tiers' local folder.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainyard_huggingface import models
from trainyard_runtime.training import TrainingContext, TrainingError
from trainyard_runtime.weights.access import WeightsAccess
from trainyard_runtime.weights.hub import HubSource
from trainyard_wire.failures import FailureReason
from trainyard_wire.spec import JobSpec

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
CHECKPOINT_FORMAT = "trainyard-huggingface/1"
# What the tiers take from a hub repository: the configs and the safetensors weights.
HUB_PATTERNS = ("*.json", "*.safetensors")


@dataclass
class Built:
    model: Any  # a PreTrainedModel
    image_mean: list[float]
    image_std: list[float]
    # Pretrained ViT-like models keep their position embeddings and interpolate them when the
    # job's image size differs from the checkpoint's.
    interpolate_pos_encoding: bool


def is_local_directory(source: str) -> bool:
    """A model named by a path on this machine rather than a hub id."""
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().is_dir()


def locate_pretrained(source: str) -> str:
    """A local model directory, checked (cheap, before importing transformers)."""
    local = Path(source).expanduser()
    if local.is_dir():
        if (local / "config.json").is_file() and any((local / f).is_file() for f in WEIGHT_FILES):
            return str(local.resolve())
        raise TrainingError(
            FailureReason.PRETRAINED_UNAVAILABLE,
            f"local model directory {local.resolve()} needs config.json and one of "
            f"{', '.join(WEIGHT_FILES)} (as written by save_pretrained)",
        )
    raise TrainingError(
        FailureReason.PRETRAINED_UNAVAILABLE,
        f"the local model directory {local} does not exist; name a hub id (org/name) to take "
        "the weights through the weights tiers",
    )


def hub_source(repo_id: str, access: WeightsAccess) -> HubSource:
    return HubSource(
        repo_id,
        allow_patterns=HUB_PATTERNS,
        endpoint=access.hf_endpoint,
        token=access.hf_token,
    )


def resolve_pretrained(ctx: TrainingContext) -> str:
    """The folder from_pretrained loads: a local directory as given, else the tiers' copy."""
    source = models.weights_name(ctx.spec.model)
    if is_local_directory(source):
        return locate_pretrained(source)
    has_hub = models.pretrained_source(ctx.spec.model) is not None
    resolved = ctx.pretrained_weights(
        source, hub_source(source, ctx.weights_access) if has_hub else None
    )
    return str(resolved.path)


def _with_architecture(config: Any) -> Any:
    # transformers 5 fails in from_config when a family maps to several heads (deit, levit)
    # and config.architectures is unset: name the plain classification head.
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    head = MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES[config.model_type]
    config.architectures = [head[0] if isinstance(head, tuple) else head]
    return config


def _labels(classes: list[str]) -> dict[str, Any]:
    id2label = dict(enumerate(classes))
    return {
        "num_labels": len(classes),
        "id2label": id2label,
        "label2id": {v: k for k, v in id2label.items()},
    }


def build_model(
    spec: JobSpec, classes: list[str], overrides: dict[str, Any], pretrained: str | None = None
) -> Built:
    """The job's model: from the `pretrained` folder when given, else from its config."""
    hp = spec.hyperparams
    if pretrained is not None:
        return _from_pretrained(pretrained, classes, overrides)
    found = models.family_of(spec.model)
    if found is None:
        raise TrainingError(
            FailureReason.MODEL_UNKNOWN,
            f"unknown model {spec.model!r}: use one of {models.accepted_names()}, or a hub id / "
            "local directory with pretrained=true",
        )
    family, preset = found
    problems = models.check_overrides(family, overrides)
    if problems:
        raise TrainingError(
            FailureReason.OPTIONS_INVALID,
            "; ".join(f"{p['field']}: {p['message']}" for p in problems),
        )
    from transformers import AutoConfig, AutoModelForImageClassification

    try:  # a config can be well typed and still inconsistent (hidden size vs heads...)
        config = AutoConfig.for_model(family, **{**preset, **overrides}, **_labels(classes))
        if hasattr(config, "image_size"):
            config.image_size = hp.image_size
        model = AutoModelForImageClassification.from_config(_with_architecture(config))
    except (ValueError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
        raise TrainingError(
            FailureReason.MODEL_INVALID, f"cannot build {spec.model!r} with {overrides}: {exc}"
        ) from exc
    return Built(model, IMAGENET_MEAN, IMAGENET_STD, interpolate_pos_encoding=False)


def _from_pretrained(source: str, classes: list[str], overrides: dict[str, Any]) -> Built:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    try:
        model, info = AutoModelForImageClassification.from_pretrained(
            source,
            **overrides,
            **_labels(classes),
            ignore_mismatched_sizes=True,  # the head is new: it has this dataset's classes
            output_loading_info=True,
        )
    except OSError as exc:
        raise TrainingError(
            FailureReason.PRETRAINED_UNAVAILABLE, f"cannot load {source!r}: {exc}"
        ) from exc
    except ValueError as exc:  # e.g. a saved model that is no image classifier
        raise TrainingError(
            FailureReason.MODEL_INVALID, f"{source!r} is no image classifier: {exc}"
        ) from exc
    # Anything but the classification head left at random init means the weights do not fit.
    fresh = [str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", [])]
    fresh += [str(k) for k in info.get("missing_keys", [])]
    body = [k for k in fresh if not k.startswith("classifier")]
    if body:
        raise TrainingError(
            FailureReason.PRETRAINED_MISMATCH,
            f"{source!r} weights do not fit the model (new or resized: {body[:8]}); "
            "drop config_overrides that change the architecture",
        )
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    try:
        processor = AutoImageProcessor.from_pretrained(source)
        mean, std = list(processor.image_mean), list(processor.image_std)
    except (OSError, ValueError, AttributeError, TypeError):
        pass  # no preprocessor_config.json: ImageNet statistics are the common default
    interpolate = "interpolate_pos_encoding" in inspect.signature(model.forward).parameters
    return Built(model, mean, std, interpolate)


def save_checkpoint(
    path: Path,
    built: Built,
    image_size: int,
    epoch: int,
    metrics: dict,
    state_dict: dict[str, Any] | None = None,
    **resume: Any,
) -> Path:
    """Write a single-file checkpoint of the model's weights now, or of `state_dict` (weights
    kept earlier); `resume` adds what resuming needs (see checkpoint.py)."""
    import torch

    if state_dict is None:
        state_dict = {k: v.detach().cpu() for k, v in built.model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": state_dict,
        "config": built.model.config.to_dict(),
        "id2label": {int(k): v for k, v in built.model.config.id2label.items()},
        "image_size": image_size,
        "image_mean": built.image_mean,
        "image_std": built.image_std,
        "interpolate_pos_encoding": built.interpolate_pos_encoding,
        "epoch": epoch,
        "metrics": dict(metrics),
        **resume,
    }
    torch.save(payload, path)
    return path


def load_checkpoint(path: Path) -> tuple[Any, dict[str, Any]]:
    """Rebuild a model from one of this service's checkpoints, with no hub access."""
    import torch
    from transformers import AutoConfig, AutoModelForImageClassification

    payload = torch.load(path, map_location="cpu", weights_only=False)
    config_dict = dict(payload["config"])
    config = AutoConfig.for_model(config_dict.pop("model_type"), **config_dict)
    model = AutoModelForImageClassification.from_config(_with_architecture(config))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload


def load_weights(folder: Path, model: str) -> None:
    """Load a folder of seeded weights as a run would (config.json and the weights)."""
    local = locate_pretrained(str(folder))
    _from_pretrained(local, ["a", "b"], {})  # two classes: a new head, the body must fit
