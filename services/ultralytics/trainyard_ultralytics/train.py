"""Train an ultralytics YOLO model for a Trainyard job: `python -m trainyard_ultralytics.train`.

ultralytics runs its own loop (`model.train`); a callback at the end of each fitted epoch
reports that epoch's losses and validation metrics (and ends the loop when early stopping says
so: ultralytics' own `patience` follows its fitness, ours the spec's metric), and the run's
best.pt/last.pt are uploaded when it ends (and during training, every
CHECKPOINT_INTERVAL_SECONDS). With
`resume_from`, ultralytics resumes the run that saved that last.pt; with `init_from`, a new
training starts from another job's weights (checkpoint.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trainyard_runtime.datasets.imagefolder import imagefolder_classes
from trainyard_runtime.training import TrainingContext, TrainingError, run_training
from trainyard_runtime.training.datasets import yolo_data_file
from trainyard_runtime.training.torch_env import choose_device, seed_everything
from trainyard_ultralytics.checkpoint import UltralyticsCheckpoint, init_model
from trainyard_ultralytics.data import write_yolo_yaml
from trainyard_ultralytics.models import ULTRALYTICS_TASKS, config_name
from trainyard_ultralytics.plugin import UltralyticsOptions
from trainyard_ultralytics.runtime import (
    amp_setting,
    apply_offline_settings,
    local_weights,
    prepare_offline,
)
from trainyard_ultralytics.weights import pretrained_file
from trainyard_wire.failures import FailureReason
from trainyard_wire.spec import JobSpec, processes_per_node

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
_VAL_METRIC = re.compile(r"metrics/(precision|recall|mAP50|mAP50-95)\(([BMP])\)")
_KIND = {"B": "", "M": "mask_", "P": "pose_"}  # boxes, masks, keypoints


def metric_name(key: str) -> str | None:
    """Readable Trainyard names: `metrics/mAP50-95(M)` -> `val/mask_mAP50-95`; None: drop it."""
    if match := _VAL_METRIC.fullmatch(key):
        return f"val/{_KIND[match[2]]}{match[1]}"
    if key.startswith("metrics/accuracy_top"):  # classification: top1 / top5
        return f"val/{key.removeprefix('metrics/accuracy_')}_accuracy"
    if key.startswith(("train/", "val/")):  # losses: train/box_loss, val/seg_loss…
        return key
    return None


def readable(metrics: dict[str, Any]) -> dict[str, float]:
    named = {metric_name(k): float(v) for k, v in (metrics or {}).items()}
    return {k: v for k, v in named.items() if k is not None}


def _dataset_arg(ctx: TrainingContext) -> str:
    spec = ctx.spec
    if spec.task == "classification":
        imagefolder_classes(ctx.dataset_dir)
        return str(ctx.dataset_dir)
    named = yolo_data_file(spec.dataset.uri)  # the job names a data.yaml, not its folder
    return str(write_yolo_yaml(ctx.dataset_dir, spec.task, ctx.work_dir / "data.yaml", named))


def _pretrained_weights(ctx: TrainingContext) -> Path | None:
    """The local .pt file to start from, or None to build the model from its config."""
    spec = ctx.spec
    if spec.model.endswith(".pt") and not spec.hyperparams.pretrained:
        raise TrainingError(
            FailureReason.PRETRAINED_UNAVAILABLE,
            f"{spec.model} is a weights file but pretrained=false: set pretrained=true, "
            f"or use {config_name(spec.model)} to train from scratch",
        )
    if not spec.hyperparams.pretrained:
        return None
    # A .pt file on this machine named by the job (or in $TRAINYARD_WEIGHTS_DIR) is used as it
    # is; otherwise the weights come through the tiers (cache, storage, the asset release).
    local = local_weights(spec.model)
    return local if local is not None else pretrained_file(ctx)


def _resumable_model(checkpoint: Path):
    from ultralytics import YOLO

    return YOLO(str(checkpoint))


def _load_model(ctx: TrainingContext, weights: Path | None):
    from ultralytics import YOLO

    task = ULTRALYTICS_TASKS[ctx.spec.task]
    if weights is None:
        return YOLO(ctx.spec.model, task=task)
    print(f"[trainyard] pretrained weights: {weights}", flush=True)
    model = YOLO(str(weights))
    if model.task != task:
        raise TrainingError(
            FailureReason.PRETRAINED_UNAVAILABLE,
            f"{weights} holds a {model.task} model, not one for {ctx.spec.task} ({task})",
        )
    return model


def train(ctx: TrainingContext) -> dict[str, float]:
    spec, hp = ctx.spec, ctx.spec.hyperparams
    options = UltralyticsOptions.model_validate(spec.options)
    # Fail on a bad dataset or missing weights before the training imports.
    data = _dataset_arg(ctx)
    prepare_offline(ctx.work_dir / "ultralytics-config")
    # A resumed run starts from its checkpoint's weights, not pretrained ones.
    weights = None if spec.resume_from else _pretrained_weights(ctx)
    apply_offline_settings()
    seed_everything(hp.seed)
    device: str | int = "cpu" if choose_device(spec.resources.gpu) == "cpu" else 0
    ranks = processes_per_node(spec)
    if device != "cpu" and ranks > 1:  # its own DDP launch, one process per listed GPU
        device = ",".join(str(index) for index in range(ranks))
    save_dir = ctx.work_dir / "runs" / "train"
    resumed = UltralyticsCheckpoint(save_dir).resume(ctx)
    init = None if resumed else ctx.init_point()
    if resumed:
        model = _resumable_model(resumed.checkpoint)
    elif init is not None:  # fine-tuning: ultralytics transfers what fits (checkpoint.py)
        model = init_model(ctx, init, data)
    else:
        model = _load_model(ctx, weights)

    state: dict[str, Any] = {"stopped": False, "final": {}}

    def on_fit_epoch_end(trainer) -> None:
        metrics = readable(trainer.metrics)
        if state["stopped"]:
            # ultralytics calls this once more after the loop, for best.pt's validation.
            state["final"] = metrics
            return
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        report = {**readable(losses), **metrics}
        if trainer.lr:
            report["train/lr"] = float(next(iter(trainer.lr.values())))
        if ctx.epoch_end(trainer.epoch + 1, report, total_epochs=trainer.epochs):
            trainer.stop = True  # spec.early_stopping: ultralytics leaves its loop after this
        state["final"] = metrics
        state["stopped"] = bool(trainer.stop)
        # ultralytics has written weights/last.pt (and best.pt) for this epoch by now.
        if not state["stopped"] and ctx.checkpoint_due() and Path(trainer.last).is_file():
            ctx.save_periodic(Path(trainer.last), Path(trainer.best))

    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    if resumed:
        # Only what belongs to this run; the rest comes from the checkpoint's arguments.
        model.train(
            resume=True,
            data=data,
            device=device,
            workers=hp.workers,
            save_dir=str(save_dir),
            plots=options.plots,
        )
        return _finish(ctx, model, state["final"])
    model.train(
        **train_arguments(
            spec,
            options,
            data=data,
            device=device,
            pretrained=weights is not None or init is not None,
            save_dir=save_dir,
        )
    )
    return _finish(ctx, model, state["final"])


def train_arguments(
    spec: JobSpec,
    options: UltralyticsOptions,
    *,
    data: str,
    device: str | int,
    pretrained: bool,
    save_dir: Path,
) -> dict[str, Any]:
    """`YOLO.train`'s arguments for a fresh run of the job: chosen here alone, so a run by hand
    with them (the benchmarks' baseline) trains exactly as the service does."""
    hp = spec.hyperparams
    arguments: dict[str, Any] = {
        "data": data,
        "epochs": hp.epochs,
        "batch": hp.batch_size,
        "imgsz": hp.image_size,
        "lr0": hp.learning_rate,
        "optimizer": OPTIMIZERS[hp.optimizer],
        "weight_decay": hp.weight_decay,
        "seed": hp.seed,
        "deterministic": True,
        "workers": hp.workers,
        "device": device,
        "pretrained": pretrained,
        "amp": amp_setting(options.amp, device),
        "project": str(save_dir.parent),
        "name": save_dir.name,
        "exist_ok": True,
        "val": True,
        "save": True,
        "patience": options.patience,
        "cos_lr": options.cos_lr,
        "lrf": options.lrf,
        "momentum": options.momentum,
        "warmup_epochs": options.warmup_epochs,
        "nbs": options.nbs,
        "mosaic": options.mosaic,
        "close_mosaic": options.close_mosaic,
        "mixup": options.mixup,
        "fliplr": options.fliplr,
        "flipud": options.flipud,
        "dropout": options.dropout,
        "single_cls": options.single_cls,
        "rect": options.rect,
        "fraction": options.fraction,
        "cache": False if options.cache == "none" else options.cache,
        "plots": options.plots,
    }
    if options.freeze:
        arguments["freeze"] = options.freeze
    return arguments


def _finish(ctx: TrainingContext, model, final: dict[str, float]) -> dict[str, float]:
    trainer = model.trainer
    last, best = Path(trainer.last), Path(trainer.best)
    if not last.is_file():
        raise TrainingError(
            FailureReason.NO_CHECKPOINT, f"ultralytics saved no checkpoint at {last}"
        )
    ctx.save_checkpoint(best if best.is_file() else last, "best")
    ctx.save_checkpoint(last, "last")
    return final


if __name__ == "__main__":
    run_training(train)
