"""A trained transformers classifier kept loaded in the service for predictions (the model
cache's `Predictor`): rebuilt offline from its checkpoint, images through its training's
evaluation transform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_servicekit.predictions import top_classes
from trainyard_wire.spec import JobSpec


class HuggingfacePredictor:
    def __init__(self, checkpoint: Path, spec: JobSpec) -> None:
        from trainyard_huggingface.build import load_checkpoint
        from trainyard_huggingface.data import eval_transform

        self.model, payload = load_checkpoint(checkpoint)
        id2label = payload["id2label"]
        self.labels = [str(id2label[i]) for i in sorted(id2label)]
        self.transform = eval_transform(
            payload["image_size"], payload["image_mean"], payload["image_std"]
        )
        self.interpolate = bool(payload.get("interpolate_pos_encoding"))
        tensors = [*self.model.parameters(), *self.model.buffers()]
        self.memory_bytes = sum(t.numel() * t.element_size() for t in tensors)

    def predict(self, images: list[Any], top_k: int, conf: float) -> list[dict[str, Any]]:
        import torch

        batch = torch.stack([self.transform(image) for image in images])
        extra = {"interpolate_pos_encoding": True} if self.interpolate else {}
        with torch.inference_mode():
            logits = self.model(pixel_values=batch, **extra).logits
        probabilities = logits.float().softmax(dim=1).tolist()
        return [top_classes(row, self.labels, top_k) for row in probabilities]
