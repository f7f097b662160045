"""The toy framework's model: it tells the classes apart by colour, as the synthetic shapes are
drawn (class i in the colour whose channel i % 3 is strongest: circle red, square green,
triangle blue).

A real, deterministic computation on the pixels, so a test can send an image and know the
answer without training anything: the predictions (`ToyPredictor`) and the evaluation
(`toy_framework.evaluate`) both use `colour_scores`, and the export (`toy_framework.export`)
writes the same rule as a torch module. For detection, segmentation and pose it
finds, per class, the pixels where the class's channel leads the other two (`colour_regions`):
their bounding box, the box's outline as the mask, its corners as keypoints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainyard_runtime.datasets.imagefolder import imagefolder_classes
from trainyard_servicekit.predictions import top_classes
from trainyard_wire.spec import JobSpec

# How sharply the probabilities follow the colour difference (a softmax temperature).
SHARPNESS = 12.0
# How far (of 255) a class's channel must lead the other two for a pixel to be of that class.
LEAD = 60


def colour_weights(classes: int) -> list[list[float]]:
    """The model's one layer: per class, +1 for its channel's mean, -1/2 for each other's."""
    return [[1.0 if c == i % 3 else -0.5 for c in range(3)] for i in range(classes)]


def colour_scores(image: Any, classes: int) -> list[float]:
    """Per class, how much its channel outweighs the other two over the image, in [-1, 1]."""
    import numpy as np

    means = np.asarray(image.convert("RGB"), dtype=np.float64).mean(axis=(0, 1)) / 255
    return [float(np.dot(row, means)) for row in colour_weights(classes)]


def probabilities(scores: list[float]) -> list[float]:
    top = max(scores)
    weights = [math.exp(SHARPNESS * (s - top)) for s in scores]
    return [w / sum(weights) for w in weights]


def trained_classes(spec: JobSpec) -> list[str]:
    """The classes of the training data (an ImageFolder on this machine)."""
    return imagefolder_classes(Path(spec.dataset.uri.removeprefix("file://")))


def colour_regions(image: Any, labels: list[str], task: str, conf: float) -> dict[str, Any]:
    """One detection per class whose colour is in the image: the box around its pixels, scored
    by the share of the box they fill (with the box's outline as its mask for segmentation, its
    corners clockwise from top-left as keypoints for pose)."""
    import numpy as np

    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    detections = []
    for class_id, label in enumerate(labels):
        channel = class_id % 3
        others = np.delete(pixels, channel, axis=2).max(axis=2)
        ys, xs = np.nonzero(pixels[:, :, channel] - others > LEAD)
        if not len(xs):
            continue
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        score = len(xs) / ((x2 - x1) * (y2 - y1))
        if score < conf:
            continue
        corners = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
        detection: dict[str, Any] = {
            "box": [x1, y1, x2, y2],
            "class_id": class_id,
            "label": label,
            "score": score,
        }
        if task == "segmentation":
            detection["polygons"] = [corners]
        if task == "pose":
            detection["keypoints"] = [[x, y, 1.0] for x, y in corners]
        detections.append(detection)
    return {"detections": detections}


class ToyPredictor:
    def __init__(self, checkpoint: Path, spec: JobSpec) -> None:
        self.labels = trained_classes(spec)
        self.task = spec.task
        self.memory_bytes = checkpoint.stat().st_size

    def predict(self, images: list[Any], top_k: int, conf: float) -> list[dict[str, Any]]:
        if self.task != "classification":
            return [colour_regions(image, self.labels, self.task, conf) for image in images]
        return [
            top_classes(probabilities(colour_scores(image, len(self.labels))), self.labels, top_k)
            for image in images
        ]
