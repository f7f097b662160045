"""The toy export job: the colour rule of `toy_framework.predict` as a torch module (the
channel means of an image batch times `colour_weights`), exported and proven by the runtime
like any framework's model. Needs torch and onnxruntime: the toy service runs it with an
interpreter that has them (the timm environment, in the dashboard tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_runtime.export.job import Prepared
from trainyard_runtime.training import TrainingContext, run_training
from trainyard_wire.spec import JobSpec


def colour_module(classes: int) -> Any:
    import torch

    from toy_framework.predict import colour_weights

    class ColourModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weights = torch.nn.Parameter(torch.tensor(colour_weights(classes)))

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images.mean(dim=(2, 3)) @ self.weights.T

    return ColourModel().eval()


def prepare(checkpoint: Path, spec: JobSpec, dataset_dir: Path, limit: int) -> Prepared:
    import numpy as np
    from PIL import Image

    from trainyard_runtime.datasets.imagefolder import imagefolder_classes

    labels = imagefolder_classes(dataset_dir)
    paths = sorted((dataset_dir / "val").glob("*/*"))[:limit]
    inputs = []
    for path in paths:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
        inputs.append(pixels.transpose(2, 0, 1)[None].copy())
    return Prepared(model=colour_module(len(labels)), inputs=inputs, classification=True)


def export(ctx: TrainingContext) -> dict[str, float]:
    from trainyard_runtime.export.job import run_export

    return run_export(ctx, prepare)


if __name__ == "__main__":
    run_training(export)
