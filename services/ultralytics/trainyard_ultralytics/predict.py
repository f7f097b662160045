"""A trained YOLO model kept loaded in the service for predictions (the model cache's
`Predictor`): ultralytics' own predictor at the trained image size, its results as boxes with
class and score, mask outlines, keypoints, or top classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_servicekit.predictions import top_classes
from trainyard_wire.spec import JobSpec


def _rounded(values: Any) -> list[float]:
    return [float(v) for v in values]


class UltralyticsPredictor:
    def __init__(self, checkpoint: Path, spec: JobSpec) -> None:
        from trainyard_ultralytics.runtime import apply_offline_settings, prepare_offline

        prepare_offline(checkpoint.parent / "ultralytics-config")
        apply_offline_settings()
        from ultralytics import YOLO

        self.model = YOLO(str(checkpoint))
        self.image_size = spec.hyperparams.image_size
        tensors = [*self.model.model.parameters(), *self.model.model.buffers()]
        self.memory_bytes = sum(t.numel() * t.element_size() for t in tensors)

    def predict(self, images: list[Any], top_k: int, conf: float) -> list[dict[str, Any]]:
        results = self.model.predict(
            images, imgsz=self.image_size, conf=conf, device="cpu", verbose=False
        )
        return [self._answer(result, top_k) for result in results]

    def _answer(self, result: Any, top_k: int) -> dict[str, Any]:
        names = [str(result.names[i]) for i in sorted(result.names)]
        if result.probs is not None:
            return top_classes(result.probs.data.float().tolist(), names, top_k)
        boxes = result.boxes
        detections: list[dict[str, Any]] = []
        polygons = result.masks.xy if result.masks is not None else None
        keypoints = result.keypoints.data.tolist() if result.keypoints is not None else None
        for i in range(len(boxes)):
            class_id = int(boxes.cls[i])
            detection: dict[str, Any] = {
                "box": _rounded(boxes.xyxy[i].tolist()),
                "class_id": class_id,
                "label": names[class_id],
                "score": float(boxes.conf[i]),
            }
            if polygons is not None:
                detection["polygons"] = [[_rounded(point) for point in polygons[i].tolist()]]
            if keypoints is not None:
                detection["keypoints"] = [_rounded(point) for point in keypoints[i]]
            detections.append(detection)
        return {"detections": detections}
