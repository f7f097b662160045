"""Resuming an ultralytics run from a `last.pt` it saved during training.

ultralytics' own `resume` puts back the weights, EMA, optimizer, loss scaler, best fitness and
early-stopping state and goes on at the next epoch, with the training arguments stored in the
checkpoint. Only what belongs to this run replaces them: the dataset path, device, workers and
the output folder (the checkpoint's points into the work dir of the run that saved it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainyard_runtime.training import TrainingContext, TrainingError
from trainyard_runtime.training.init_point import InitPoint, head_changes
from trainyard_ultralytics.models import ULTRALYTICS_TASKS
from trainyard_wire.failures import FailureReason


@dataclass(frozen=True)
class Resumed:
    checkpoint: Path
    epochs: int  # the total of the training it continues (from its arguments)


class UltralyticsCheckpoint:
    """The resumable state of an ultralytics run (runtime's `Resumable`), in `save_dir`."""

    def __init__(self, save_dir: Path) -> None:
        self.save_dir = save_dir

    def state(self) -> dict[str, Any]:
        return {}  # ultralytics writes it into its own last.pt

    def resume(self, ctx: TrainingContext) -> Resumed | None:
        """Fetch `spec.resume_from` and check it can go on; None for a fresh start.

        The best checkpoint saved beside it goes where ultralytics keeps the run's best, so it
        is replaced only by a better epoch.
        """
        point = ctx.resume_point()
        if point is None:
            return None
        import torch

        checkpoint = torch.load(point.checkpoint, map_location="cpu", weights_only=False)
        args = checkpoint.get("train_args") if isinstance(checkpoint, dict) else None
        if not args or checkpoint.get("optimizer") is None or checkpoint.get("epoch", -1) < 0:
            raise TrainingError(
                FailureReason.CHECKPOINT_INVALID,
                f"{point.key} cannot be resumed: only a last.pt ultralytics saved during "
                "training holds its optimizer and epoch (the final one of a run is stripped "
                "of them)",
            )
        task = ULTRALYTICS_TASKS[ctx.spec.task]
        if args.get("task") != task:
            raise TrainingError(
                FailureReason.CHECKPOINT_INVALID,
                f"{point.key} is a checkpoint of a {args.get('task')} run, not of {task}",
            )
        epochs = int(args["epochs"])
        ctx.resuming_after(int(checkpoint["epoch"]) + 1, epochs)  # its epoch counts from 0
        if point.best is not None:
            (self.save_dir / "weights").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(point.best, self.save_dir / "weights" / "best.pt")
        return Resumed(point.checkpoint, epochs)


def _data_names(data: str) -> list[str] | None:
    """The class names of the job's data: a data.yaml's `names`, or an ImageFolder's folders."""
    path = Path(data)
    if path.is_dir():
        from trainyard_runtime.datasets.imagefolder import imagefolder_classes

        return imagefolder_classes(path)
    import yaml

    names = (yaml.safe_load(path.read_text()) or {}).get("names")
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names] if isinstance(names, list) else None


def init_model(ctx: TrainingContext, point: InitPoint, data: str):
    """Fine-tuning (`spec.init_from`): the job's architecture with the source's weights.

    ultralytics' own transfer does the rest: training builds the model for this data set's
    classes and takes every tensor whose name and shape fit. With other classes the detection
    head's class branch starts new (its shape follows the class count; with the same count, it
    is reset here) and the backbone is kept; with the same classes the whole model is kept.
    """
    import torch
    from ultralytics import YOLO

    checkpoint = torch.load(point.checkpoint, map_location="cpu", weights_only=False)
    source = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    task = ULTRALYTICS_TASKS[ctx.spec.task]
    if source is None or getattr(source, "task", task) != task:
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID,
            f"{point.key} is not an ultralytics {task} checkpoint",
        )
    names = getattr(source, "names", None)
    source_names = [str(names[k]) for k in sorted(names)] if isinstance(names, dict) else None
    ours = _data_names(data)
    changed = ours is not None and head_changes(source_names, ours)
    model = YOLO(ctx.spec.model, task=task)
    if ours is not None and len(ours) != getattr(model.model.model[-1], "nc", len(ours)):
        # Built for this data set's class count (a config's own is 80): a source head of that
        # count then fits, and training's transfer (by name and shape) keeps it.
        model.model = model._smart_load("model")(model.model.yaml, nc=len(ours), verbose=False)
    model.load(str(point.checkpoint))
    if changed and source_names is not None and ours is not None and len(source_names) == len(ours):
        # Same count, other classes: the shapes fit, so the transfer would keep the source's
        # class branch and its old meanings; it starts new, as the log says.
        reset_class_branch(model.model)
    return model


def class_branch(model: Any) -> list[Any]:
    """The layers of the model's head whose outputs are its classes: each scale's last class
    convolution of a detection (segmentation, pose) head, or a classifier's linear layer."""
    import torch

    head = model.model[-1]
    classes = int(getattr(head, "nc", 0))
    found = []
    for name, module in head.named_modules():
        top = name.split(".")[0]
        if top in ("cv3", "one2one_cv3") and isinstance(module, torch.nn.Conv2d):
            if module.out_channels == classes:
                found.append(module)
        elif name == "linear" and isinstance(module, torch.nn.Linear):
            found.append(module)
    return found


def reset_class_branch(model: Any) -> None:
    for layer in class_branch(model):
        layer.reset_parameters()
    head = model.model[-1]
    if hasattr(head, "bias_init") and getattr(head, "stride", None) is not None:
        head.bias_init()  # the class prior ultralytics gives a new detection head
