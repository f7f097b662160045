"""The Hugging Face transformers service: what it trains, its options, and spec checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trainyard_huggingface import models
from trainyard_servicekit.plugin import FrameworkPlugin, TaskSupport, problem
from trainyard_servicekit.weights_support import WeightsSupport
from trainyard_wire.runs import DistributedSupport
from trainyard_wire.spec import JobSpec

OverrideValue = int | float | bool | str | list[int | float | str] | None


class HuggingfaceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config_overrides: dict[str, OverrideValue] = Field(
        default_factory=dict,
        max_length=64,
        description=(
            "Attributes of the family's transformers config to set (e.g. hidden_size, "
            "num_hidden_layers, depths). Only keys that config has, with values of the same type; "
            "image_size, labels and channels come from the job and the dataset."
        ),
    )
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="Learning-rate schedule over all training steps (Trainer's)."
    )
    warmup_ratio: float = Field(
        0.0, ge=0.0, le=0.5, description="Fraction of all training steps spent warming up."
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, le=0.5, description="Label smoothing factor of the cross-entropy loss."
    )
    momentum: float = Field(
        0.9, ge=0.0, le=0.999, description="SGD momentum (used only with optimizer=sgd)."
    )


def _tasks() -> dict[str, TaskSupport]:
    return {
        "classification": TaskSupport(
            dataset_formats=["imagefolder"],
            models=models.accepted_names(),
            models_exhaustive=True,
            metrics=["val_loss", "accuracy", "train_loss"],
        )
    }


def _is_known_model(task: str, model: str) -> bool:
    # Hub ids and local directories (anything with a "/") are not listed: they are accepted
    # when pretrained=true, which extra_checks enforces (it sees the whole spec).
    return task == "classification" and (
        models.family_of(model) is not None or models.is_external(model)
    )


def _extra_checks(spec: JobSpec) -> list[dict[str, Any]]:
    if spec.task != "classification":
        return []
    pretrained = spec.hyperparams.pretrained
    if models.is_external(spec.model) and not pretrained:
        message = "a hub id or local directory needs hyperparams.pretrained=true; "
        message += "to train from scratch use a family or preset name"
        return [problem("model", message, models.accepted_names())]
    overrides = spec.options.get("config_overrides")
    found = models.family_of(spec.model)
    if found and not pretrained and isinstance(overrides, dict) and overrides:
        return models.check_overrides(found[0], overrides)
    return []


def _publishes(spec: JobSpec) -> bool:
    """A hub id or local directory, or a name the hub has weights for (models.HUB_WEIGHTS)."""
    return models.pretrained_source(spec.model) is not None


def _load_weights(folder: Path, model: str) -> None:
    from trainyard_huggingface.build import load_weights

    load_weights(folder, model)


WEIGHTS = WeightsSupport(name_for=models.weights_name, published=_publishes, load=_load_weights)


def _predictor(checkpoint: Path, spec: JobSpec) -> Any:
    from trainyard_huggingface.predict import HuggingfacePredictor

    return HuggingfacePredictor(checkpoint, spec)


PLUGIN = FrameworkPlugin(
    name="huggingface",
    tasks=_tasks,
    packages=("transformers", "torch", "torchvision", "accelerate"),
    options_model=HuggingfaceOptions,
    is_known_model=_is_known_model,
    extra_checks=_extra_checks,
    warm_up=models.import_transformers,
    weights=WEIGHTS,
    # Trainer under torchrun runs DistributedDataParallel itself: gloo on the CPU, NCCL on GPUs.
    distributed=DistributedSupport(cpu_processes=True, gpu_processes=True, multi_node=True),
    # What train.py imports before its first step (torch and transformers with them).
    warm_imports=(
        "torch",
        "torchvision",
        "transformers",
        "transformers.trainer",  # loaded lazily by `from transformers import Trainer`: ~2 s
        "trainyard_huggingface.build",
        "trainyard_huggingface.data",
        "trainyard_huggingface.checkpoint",
    ),
    export_formats=lambda task: ["onnx", "torchscript"] if task == "classification" else [],
    predictor=_predictor,
    evaluates=True,
)
