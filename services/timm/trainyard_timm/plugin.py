"""What the timm service trains: image classification with any timm architecture."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trainyard_servicekit.plugin import FrameworkPlugin, TaskSupport, problem
from trainyard_servicekit.weights_support import WeightsSupport
from trainyard_wire.runs import DistributedSupport
from trainyard_wire.spec import JobSpec


class TimmOptions(BaseModel):
    """Options for `framework: timm` jobs (all optional)."""

    model_config = ConfigDict(extra="forbid")

    augment: bool = Field(
        True, description="Light train-time augmentation: random resized crop and horizontal flip."
    )
    scheduler: Literal["cosine", "none"] = Field(
        "cosine", description="Learning-rate schedule over the epochs: cosine decay or constant."
    )
    warmup_epochs: int = Field(
        0, ge=0, le=100, description="Epochs of linear learning-rate warmup before the schedule."
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, le=0.5, description="Label smoothing of the cross-entropy loss."
    )
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Momentum (used by sgd only).")
    drop_rate: float = Field(
        0.0, ge=0.0, le=0.9, description="Dropout before the classifier (timm drop_rate)."
    )
    amp: bool = Field(True, description="Mixed precision on CUDA; ignored on CPU.")
    pretrained_file: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="Local weights file (.pth/.bin/.safetensors) for hyperparams.pretrained=true; "
        "without it weights come through the weights tiers (local cache, object storage, the "
        "Hugging Face hub).",
    )


@functools.cache
def _architectures() -> list[str]:
    import timm

    return timm.list_models()


@functools.cache
def _architecture_set() -> frozenset[str]:
    return frozenset(_architectures())


@functools.cache
def _pretrained_tags() -> frozenset[str]:
    import timm

    return frozenset(timm.list_pretrained())


def _tasks() -> dict[str, TaskSupport]:
    return {
        "classification": TaskSupport(
            dataset_formats=["imagefolder"],
            models=_architectures(),
            models_exhaustive=True,
            # top5 only with 5 classes or more (loop.py): an epoch without it never improves.
            metrics=["val_loss", "top1", "top5", "train_loss", "lr"],
        )
    }


def is_known_model(task: str, model: str) -> bool:
    """An architecture name (`resnet18`) or one with a known weight tag (`resnet18.a1_in1k`)."""
    if task != "classification":
        return False
    return model in _architecture_set() or model in _pretrained_tags()


def _extra_checks(spec: JobSpec) -> list[dict[str, Any]]:
    if spec.options.get("pretrained_file") and not spec.hyperparams.pretrained:
        return [problem("options.pretrained_file", "only used with hyperparams.pretrained=true")]
    return []


def _publishes(spec: JobSpec) -> bool:
    """A local pretrained_file, or a hub repository timm names for the model."""
    from trainyard_timm.model import hub_repo

    return bool(spec.options.get("pretrained_file")) or hub_repo(spec.model) is not None


def _load_weights(folder: Path, model: str) -> None:
    from trainyard_timm.model import load_weights

    load_weights(folder, model)


WEIGHTS = WeightsSupport(name_for=str, published=_publishes, load=_load_weights)


def _predictor(checkpoint: Path, spec: JobSpec) -> Any:
    from trainyard_timm.predict import TimmPredictor

    return TimmPredictor(checkpoint, spec)


PLUGIN = FrameworkPlugin(
    name="timm",
    tasks=_tasks,
    packages=("timm", "torch", "torchvision"),
    options_model=TimmOptions,
    is_known_model=is_known_model,
    extra_checks=_extra_checks,
    weights=WEIGHTS,
    # DistributedDataParallel in its own loop: gloo on the CPU, NCCL on GPUs, over nodes.
    distributed=DistributedSupport(cpu_processes=True, gpu_processes=True, multi_node=True),
    # What a run imports before its first step (loop.py and with it torch, timm, torchvision).
    warm_imports=("torch", "torchvision", "timm", "trainyard_timm.loop"),
    export_formats=lambda task: ["onnx", "torchscript"] if task == "classification" else [],
    predictor=_predictor,
    evaluates=True,
)
