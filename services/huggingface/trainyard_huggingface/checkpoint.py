"""Resuming transformers training from this service's `last.pt`.

When a periodic `last.pt` is due, the reporting callback has Trainer save its own checkpoint
folder (optimizer, scheduler, scaler, random states, trainer state with the global step); the
files beside the weights go into `last.pt`, the folder is removed. To resume, the folder is put
back together (weights from the checkpoint's state dict) and given to Trainer's
`resume_from_checkpoint`, which goes on at the next epoch.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainyard_huggingface.build import WEIGHT_FILES, Built
from trainyard_runtime.training import TrainingContext, TrainingError
from trainyard_runtime.training.init_point import InitPoint, head_changes
from trainyard_wire.failures import FailureReason

# Saved by Trainer but not needed to resume: the weights travel as the state dict already.
_NOT_PACKED = {*WEIGHT_FILES, "config.json", "training_args.bin"}

Score = tuple[float, float]  # (accuracy, -val_loss): higher is better


@dataclass
class Resumed:
    folder: Path  # a Trainer checkpoint folder for resume_from_checkpoint
    best: Score | None
    best_epoch: int


class HuggingfaceCheckpoint:
    """The resumable state of a Trainer run (runtime's `Resumable`): the Trainer checkpoint
    folder under `output_dir` and the model it goes with."""

    def __init__(self, built: Built, output_dir: Path, best_path: Path) -> None:
        self.built = built
        self.output_dir = output_dir
        self.best_path = best_path

    def state(self) -> dict[str, Any]:
        """The files of the Trainer checkpoint folders just saved that are not the model's
        weights; the folders are removed (the weights travel as the state dict already)."""
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        files: dict[str, bytes] = {}
        for folder in sorted(self.output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*")):
            files |= {
                path.name: path.read_bytes()
                for path in sorted(folder.iterdir())
                if path.is_file() and path.name not in _NOT_PACKED
            }
            shutil.rmtree(folder)
        return {"trainer_files": files}

    def resume(self, ctx: TrainingContext) -> Resumed | None:
        """Rebuild the Trainer checkpoint folder of `spec.resume_from`; None for a fresh start."""
        point = ctx.resume_point()
        if point is None:
            return None
        import torch

        built = self.built
        payload: Any = torch.load(point.checkpoint, map_location="cpu", weights_only=False)
        files = payload.get("trainer_files") if isinstance(payload, dict) else None
        if not files:
            raise TrainingError(
                FailureReason.CHECKPOINT_INVALID,
                f"{point.key} holds no trainer state to resume from (a last.pt saved during "
                "training does; the final one of a run does not)",
            )
        try:
            built.model.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise TrainingError(
                FailureReason.CHECKPOINT_INVALID, f"{point.key} does not fit this model: {exc}"
            ) from exc
        epoch = int(payload["epoch"])
        ctx.resuming_after(epoch)
        folder = ctx.work_dir / "resume" / f"trainer-epoch-{epoch}"
        shutil.rmtree(folder, ignore_errors=True)
        built.model.save_pretrained(folder)  # the weights and config Trainer loads back
        for name, data in files.items():
            (folder / Path(name).name).write_bytes(data)
        best = payload.get("best")
        if point.best is None or best is None:  # the best counts only with its weights at hand
            return Resumed(folder, None, 0)
        shutil.copyfile(point.best, self.best_path)
        return Resumed(folder, (best["score"][0], best["score"][1]), int(best["epoch"]))


def load_init_weights(built: Built, point: InitPoint, classes: list[str]) -> None:
    """Fine-tuning (`spec.init_from`): the source's weights; a new head for new classes.

    The head is what the source's state dict has but cannot fit (its shape depends on the
    number of labels) plus the `classifier` layers when the labels differ; anything else that
    does not fit means another architecture. Only the weights: Trainer starts fresh.
    """
    import torch

    payload: Any = torch.load(point.checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID, f"{point.key} is not a checkpoint of this service"
        )
    labels = payload.get("id2label") or {}
    source = [labels[i] for i in sorted(labels)] if labels else None
    ours = built.model.state_dict()
    state = dict(payload["state_dict"])
    if head_changes(source, classes):
        state = {
            k: v
            for k, v in state.items()
            if not k.startswith("classifier") and (k not in ours or v.shape == ours[k].shape)
        }
    misfit = [k for k, v in state.items() if k in ours and v.shape != ours[k].shape]
    if misfit:
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID,
            f"{point.key} does not fit this model (other shapes: {misfit[:8]}); fine-tune with "
            "the source job's config_overrides",
        )
    missing, unexpected = built.model.load_state_dict(state, strict=False)
    body = [k for k in [*missing, *unexpected] if not k.startswith("classifier")]
    if body:
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID,
            f"{point.key} does not fit this model (missing or unexpected: {body[:8]})",
        )
