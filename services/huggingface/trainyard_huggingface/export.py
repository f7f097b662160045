"""Export a trained transformers classifier and prove the file:
`python -m trainyard_huggingface.export`.

The checkpoint rebuilds the model offline (`build.load_checkpoint`); validation images go
through the transform its training used. The exported graph takes pixel values and answers the
logits. Export, comparison and reporting are the runtime's; formats: ONNX and TorchScript.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_runtime.export.job import Prepared
from trainyard_runtime.training import TrainingContext, run_training
from trainyard_wire.spec import JobSpec


def logits_module(model: Any, interpolate_pos_encoding: bool) -> Any:
    """The classifier as a module from pixel values to logits: what tracing and ONNX need."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            extra = {"interpolate_pos_encoding": True} if interpolate_pos_encoding else {}
            return self.model(pixel_values=pixel_values, **extra).logits

    return Logits().eval()


def prepare(checkpoint: Path, spec: JobSpec, dataset_dir: Path, limit: int) -> Prepared:
    from trainyard_huggingface.build import load_checkpoint
    from trainyard_huggingface.data import make_datasets

    model, payload = load_checkpoint(checkpoint)
    _, val = make_datasets(
        dataset_dir, payload["image_size"], payload["image_mean"], payload["image_std"]
    )
    inputs = [val[i][0].unsqueeze(0).numpy() for i in range(min(limit, len(val)))]
    module = logits_module(model, bool(payload.get("interpolate_pos_encoding")))
    return Prepared(model=module, inputs=inputs, classification=True)


def export(ctx: TrainingContext) -> dict[str, float]:
    from trainyard_runtime.export.job import run_export

    return run_export(ctx, prepare)


if __name__ == "__main__":
    run_training(export)
