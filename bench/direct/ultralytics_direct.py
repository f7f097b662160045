"""Ultralytics without Trainyard: `YOLO(model).train(...)` with the arguments the ultralytics
service passes for the same job (its option defaults), offline as the service runs it.

Metrics use the service's names (`val/mAP50-95`), so the two runs compare key by key."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from progress import epoch_done, final

from trainyard_runtime.training.torch_env import choose_device, seed_everything
from trainyard_ultralytics.models import ULTRALYTICS_TASKS
from trainyard_ultralytics.plugin import UltralyticsOptions
from trainyard_ultralytics.runtime import apply_offline_settings, prepare_offline
from trainyard_ultralytics.train import readable, train_arguments
from trainyard_wire.spec import JobSpec


def main(spec_path: Path, out: Path) -> None:
    spec = JobSpec.model_validate(json.loads(spec_path.read_text()))
    hp, options = spec.hyperparams, UltralyticsOptions.model_validate(spec.options)
    prepare_offline(out / "ultralytics-config")
    apply_offline_settings()
    seed_everything(hp.seed)
    device: str | int = "cpu" if choose_device(spec.resources.gpu) == "cpu" else 0
    from ultralytics import YOLO

    model = YOLO(spec.model, task=ULTRALYTICS_TASKS[spec.task])
    state: dict[str, Any] = {"stopped": False, "last": {}}

    def on_fit_epoch_end(trainer) -> None:
        if state["stopped"]:  # called once more after the loop, for best.pt's validation
            return
        epoch_done(trainer.epoch + 1)
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        state["last"] = readable({**losses, **trainer.metrics})
        state["stopped"] = bool(trainer.stop)

    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    data = Path(spec.dataset.uri) / "data.yaml" if spec.task != "classification" else None
    model.train(
        **train_arguments(
            spec,
            options,
            data=str(data or spec.dataset.uri),
            device=device,
            pretrained=False,
            save_dir=out / "runs" / "train",
        )
    )
    final({**state["last"], **readable(model.trainer.metrics)})


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
