"""What the ultralytics service trains: YOLO detection, segmentation, pose and classification."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trainyard_servicekit.plugin import FrameworkPlugin, TaskSupport, problem
from trainyard_servicekit.weights_support import WeightsSupport
from trainyard_ultralytics.models import catalog, is_known, weights_name
from trainyard_wire.runs import DistributedSupport
from trainyard_wire.spec import JobSpec

DATASET_FORMATS = {
    "detection": ["yolo"],
    "segmentation": ["yolo"],
    "pose": ["yolo"],
    "classification": ["imagefolder"],
}


def _box_metrics(kind: str = "") -> list[str]:
    return [f"val/{kind}{name}" for name in ("precision", "recall", "mAP50", "mAP50-95")]


def _losses(*names: str) -> list[str]:
    return [f"{split}/{name}_loss" for split in ("train", "val") for name in names]


# What train.py reports per epoch for each task (its names for ultralytics' metrics/…(B|M|P)).
METRICS = {
    "detection": [*_losses("box", "cls", "dfl"), *_box_metrics(), "train/lr"],
    "segmentation": [
        *_losses("box", "seg", "cls", "dfl", "sem"),
        *_box_metrics(),
        *_box_metrics("mask_"),
        "train/lr",
    ],
    "pose": [
        *_losses("box", "pose", "kobj", "cls", "dfl"),
        *_box_metrics(),
        *_box_metrics("pose_"),
        "train/lr",
    ],
    "classification": [
        "train/loss",
        "val/loss",
        "val/top1_accuracy",
        "val/top5_accuracy",
        "train/lr",
    ],
}


class UltralyticsOptions(BaseModel):
    """Options for `framework: ultralytics` jobs (all optional; ultralytics' own defaults)."""

    model_config = ConfigDict(extra="forbid")

    patience: int = Field(
        100, ge=0, le=10_000, description="Stop after N epochs without improvement; 0: never."
    )
    cos_lr: bool = Field(False, description="Cosine learning-rate schedule instead of linear.")
    lrf: float = Field(
        0.01, gt=0.0, le=1.0, description="Final learning rate as a fraction of the initial one."
    )
    momentum: float = Field(0.937, ge=0.0, lt=1.0, description="SGD momentum / Adam beta1.")
    warmup_epochs: float = Field(
        3.0, ge=0.0, le=100.0, description="Epochs of learning-rate warmup (fractions allowed)."
    )
    nbs: int = Field(
        64,
        ge=1,
        le=4096,
        description="Nominal batch size: gradients accumulate over about nbs/batch_size batches "
        "per optimizer step (weight decay is scaled to it).",
    )
    mosaic: float = Field(
        1.0, ge=0.0, le=1.0, description="Probability of mosaic augmentation (not classification)."
    )
    close_mosaic: int = Field(
        10, ge=0, le=10_000, description="Turn mosaic off for the last N epochs; 0: keep it on."
    )
    mixup: float = Field(0.0, ge=0.0, le=1.0, description="Probability of MixUp augmentation.")
    fliplr: float = Field(0.5, ge=0.0, le=1.0, description="Probability of a horizontal flip.")
    flipud: float = Field(0.0, ge=0.0, le=1.0, description="Probability of a vertical flip.")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout before the classifier (classification only)."
    )
    freeze: int = Field(
        0, ge=0, le=100, description="Freeze the first N layers (useful with pretrained weights)."
    )
    single_cls: bool = Field(False, description="Train every class as one class.")
    rect: bool = Field(False, description="Rectangular training batches (turns mosaic off).")
    fraction: float = Field(
        1.0, gt=0.0, le=1.0, description="Fraction of the training images to use."
    )
    cache: Literal["none", "ram", "disk"] = Field(
        "none", description="Cache decoded images in RAM or on disk to speed up loading."
    )
    amp: Literal["auto", "fp16", "bf16", "off"] = Field(
        "auto",
        description="Mixed precision on CUDA (ignored on CPU). auto: bf16 where the GPU has it, "
        "else fp16.",
    )
    plots: bool = Field(
        False, description="Write ultralytics' plots (labels, curves, batches) in the work dir."
    )


def _tasks() -> dict[str, TaskSupport]:
    return {
        task: TaskSupport(
            dataset_formats=DATASET_FORMATS[task], models=names, metrics=METRICS[task]
        )
        for task, names in catalog().items()
    }


def _extra_checks(spec: JobSpec) -> list[dict[str, Any]]:
    if spec.model.endswith(".pt") and not spec.hyperparams.pretrained:
        stem = spec.model.removesuffix(".pt").rsplit("/", 1)[-1]
        message = f"a .pt model is a weights file: set pretrained=true, or name {stem}.yaml"
        return [problem("hyperparams.pretrained", message + " to train from scratch")]
    return []


def _publishes(spec: JobSpec) -> bool:
    from trainyard_ultralytics.weights import publishes

    return publishes(spec)


def _load_weights(folder: Path, model: str) -> None:
    from trainyard_ultralytics.weights import load_weights

    load_weights(folder, model)


WEIGHTS = WeightsSupport(name_for=weights_name, published=_publishes, load=_load_weights)


def _predictor(checkpoint: Path, spec: JobSpec) -> Any:
    from trainyard_ultralytics.predict import UltralyticsPredictor

    return UltralyticsPredictor(checkpoint, spec)


PLUGIN = FrameworkPlugin(
    name="ultralytics",
    tasks=_tasks,
    packages=("ultralytics", "torch", "torchvision"),
    options_model=UltralyticsOptions,
    is_known_model=is_known,
    extra_checks=_extra_checks,
    weights=WEIGHTS,
    # Its own DDP launch spreads a job over the CUDA devices of one machine (device="0,1"):
    # no CPU processes (it refuses them), no nodes beyond one.
    distributed=DistributedSupport(gpu_processes=True, own_launcher=True),
    # Not ultralytics itself: a run points YOLO_CONFIG_DIR at its own folder before importing
    # it, and ultralytics reads its settings from there as it is imported.
    warm_imports=("torch", "torchvision"),
    # ultralytics' exporter, the formats that need no GPU toolchain (export.py), every task.
    export_formats=lambda _task: ["onnx", "torchscript"],
    predictor=_predictor,
    evaluates=True,
)
