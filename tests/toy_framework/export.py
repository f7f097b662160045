"""The toy export job: the colour rule of `toy_framework.predict` as a torch module (the
channel means of an image batch times `colour_weights`), exported and proven by the runtime
like any framework's model, with its validation accuracy measured on the model and on the
exported file (the task metrics a detector's export reports as mAP). Needs torch and
onnxruntime: the toy service runs it with an interpreter that has them (the timm environment,
in the dashboard tests)."""

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
    from trainyard_runtime.export.runners import exported_runner, torch_runner

    labels = imagefolder_classes(dataset_dir)
    paths = sorted((dataset_dir / "val").glob("*/*"))[:limit]
    inputs = []
    for path in paths:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
        inputs.append(pixels.transpose(2, 0, 1)[None].copy())
    truth = [labels.index(path.parent.name) for path in paths]
    model = colour_module(len(labels))

    def accuracy(run) -> dict[str, float]:
        right = sum(int(np.argmax(run(x)[0])) == y for x, y in zip(inputs, truth, strict=True))
        return {"accuracy": right / len(truth)}

    def task_metrics(exported: Path) -> tuple[dict[str, float], dict[str, float]]:
        fmt = "onnx" if exported.suffix == ".onnx" else "torchscript"
        return accuracy(torch_runner(model)), accuracy(exported_runner(exported, fmt))

    return Prepared(model=model, inputs=inputs, classification=True, task_metrics=task_metrics)


def export(ctx: TrainingContext) -> dict[str, float]:
    from trainyard_runtime.export.job import run_export

    return run_export(ctx, prepare)


if __name__ == "__main__":
    run_training(export)
