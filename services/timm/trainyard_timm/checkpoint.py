"""What a timm `last.pt` carries so training can go on from it, and putting it back.

Beside the weights: optimizer, scheduler and loss-scaler state, the best score so far (to keep
choosing `best.pt` the same way) and the random generators' states (the next epoch shuffles
and augments as it would have).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainyard_runtime.training import TrainingContext, TrainingError
from trainyard_runtime.training.init_point import InitPoint, head_changes
from trainyard_runtime.training.rng import restore_rng_state, rng_state
from trainyard_wire.failures import FailureReason

Score = tuple[float, float]  # (top1, -val_loss): higher is better


@dataclass
class Progress:
    first_epoch: int = 1
    best: Score | None = None
    best_epoch: int = 0


class TimmCheckpoint:
    """The resumable state of a timm run (runtime's `Resumable`): the objects it lives in."""

    def __init__(
        self,
        model,
        optimizer,
        scheduler,
        scaler,
        loader_generator: torch.Generator,
        best_path: Path,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.loader_generator = loader_generator
        self.best_path = best_path
        self.progress = Progress()

    def state(self) -> dict[str, Any]:
        progress = self.progress
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "best": progress.best,
            "best_epoch": progress.best_epoch,
            "rng": rng_state(),
            "loader_rng": self.loader_generator.get_state(),
        }

    def resume(self, ctx: TrainingContext) -> Progress:
        """Load `spec.resume_from` into the freshly built objects; a fresh start without one."""
        self.progress = self._load(ctx) or Progress()
        return self.progress

    def _load(self, ctx: TrainingContext) -> Progress | None:
        point = ctx.resume_point()
        if point is None:
            return None
        checkpoint = torch.load(point.checkpoint, map_location="cpu", weights_only=False)
        state = checkpoint.get("training") if isinstance(checkpoint, dict) else None
        if state is None:
            raise TrainingError(
                FailureReason.CHECKPOINT_INVALID,
                f"{point.key} holds no training state to resume from (only a last.pt of a timm "
                "job does)",
            )
        if checkpoint.get("model") != ctx.spec.model:
            raise TrainingError(
                FailureReason.CHECKPOINT_INVALID,
                f"{point.key} is a checkpoint of {checkpoint.get('model')!r}, "
                f"not {ctx.spec.model!r}",
            )
        try:
            self.model.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as exc:  # another number of classes, another architecture variant
            raise TrainingError(
                FailureReason.CHECKPOINT_INVALID, f"{point.key} does not fit this model: {exc}"
            ) from exc
        optimizer, scheduler = self.optimizer, self.scheduler
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # The rate for the next epoch from this job's schedule, which may span more epochs than
        # the one that saved the checkpoint (training on from a finished job's last.pt).
        for group, base, factor in zip(
            optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
        ):
            group["lr"] = base * factor(scheduler.last_epoch)
        self.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        self.loader_generator.set_state(state["loader_rng"])
        progress = Progress(first_epoch=ctx.resuming_after(int(checkpoint["epoch"])))
        # The best so far counts only with its weights at hand, saved beside the checkpoint.
        if point.best is not None and state["best"] is not None:
            shutil.copyfile(point.best, self.best_path)
            progress.best, progress.best_epoch = tuple(state["best"]), int(state["best_epoch"])
        return progress


def _head_keys(model, state: dict[str, Any]) -> set[str]:
    """The state dict keys of the model's classifier (timm names it in the model's config)."""
    heads = model.pretrained_cfg.get("classifier") or ()
    prefixes = tuple(f"{h}." for h in ((heads,) if isinstance(heads, str) else heads))
    return {k for k in state if prefixes and k.startswith(prefixes)}


def load_init_weights(model, point: InitPoint, model_name: str, classes: list[str]) -> None:
    """Fine-tuning (`spec.init_from`): the source's weights, with a new head for new classes.

    Only the weights: the optimizer, schedule and epoch start fresh.
    """
    checkpoint = torch.load(point.checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID, f"{point.key} is not a checkpoint of a timm job"
        )
    if checkpoint.get("model") != model_name:
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID,
            f"{point.key} is a checkpoint of {checkpoint.get('model')!r}, not {model_name!r}",
        )
    state = dict(checkpoint["state_dict"])
    head = _head_keys(model, state)
    if head_changes(checkpoint.get("class_names"), classes):
        state = {k: v for k, v in state.items() if k not in head}
    missing, unexpected = model.load_state_dict(state, strict=False)
    body = [k for k in [*missing, *unexpected] if k not in head]
    if body:
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID,
            f"{point.key} does not fit this model (missing or unexpected: {body[:8]})",
        )
