"""Export a trained timm classifier and prove the file: `python -m trainyard_timm.export`.

The checkpoint rebuilds the model (architecture, classes, normalization); validation images go
through the transform its training evaluated with. Export, comparison and reporting are the
runtime's (`trainyard_runtime.export.job`); formats: ONNX and TorchScript.
"""

from __future__ import annotations

from pathlib import Path

from trainyard_runtime.export.job import Prepared
from trainyard_runtime.training import TrainingContext, run_training
from trainyard_wire.spec import JobSpec


def prepare(checkpoint: Path, spec: JobSpec, dataset_dir: Path, limit: int) -> Prepared:
    from torchvision import datasets

    from trainyard_timm.data import _rgb, build_transforms
    from trainyard_timm.predict import load_trained

    model, payload = load_trained(checkpoint)
    _, eval_tf = build_transforms(payload["image_size"], payload["mean"], payload["std"], False)
    val = datasets.ImageFolder(str(dataset_dir / "val"), transform=eval_tf, loader=_rgb)
    inputs = [val[i][0].unsqueeze(0).numpy() for i in range(min(limit, len(val)))]
    return Prepared(model=model, inputs=inputs, classification=True)


def export(ctx: TrainingContext) -> dict[str, float]:
    from trainyard_runtime.export.job import run_export

    return run_export(ctx, prepare)


if __name__ == "__main__":
    run_training(export)
