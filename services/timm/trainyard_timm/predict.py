"""A trained timm classifier kept loaded in the service for predictions (the model cache's
`Predictor`): the checkpoint's architecture, classes and evaluation transform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_servicekit.predictions import top_classes
from trainyard_wire.spec import JobSpec


def load_trained(checkpoint: Path) -> tuple[Any, dict[str, Any]]:
    """The model a timm checkpoint holds, in eval mode, and the checkpoint's contents."""
    import timm
    import torch

    payload = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = timm.create_model(
        payload["model"], pretrained=False, num_classes=len(payload["class_names"])
    )
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload


class TimmPredictor:
    def __init__(self, checkpoint: Path, spec: JobSpec) -> None:
        from trainyard_timm.data import build_transforms

        self.model, payload = load_trained(checkpoint)
        self.labels: list[str] = list(payload["class_names"])
        _, self.transform = build_transforms(
            payload["image_size"], payload["mean"], payload["std"], False
        )
        tensors = [*self.model.parameters(), *self.model.buffers()]
        self.memory_bytes = sum(t.numel() * t.element_size() for t in tensors)

    def predict(self, images: list[Any], top_k: int, conf: float) -> list[dict[str, Any]]:
        import torch

        batch = torch.stack([self.transform(image) for image in images])
        with torch.inference_mode():
            probabilities = self.model(batch).float().softmax(dim=1).tolist()
        return [top_classes(row, self.labels, top_k) for row in probabilities]
