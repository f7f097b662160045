"""Predicting with a trained model in the service: the checkpoint fetched from storage into the
model cache, the images decoded, the framework's predictor run, the answer put together.

The framework says how to load its checkpoint as a predictor (`FrameworkPlugin.predictor`);
everything else is the same for every framework. PIL comes with each framework's environment.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from pathlib import Path, PurePosixPath
from typing import Any

from trainyard_runtime.storage import StorageError, open_storage
from trainyard_servicekit.http_api import ApiError
from trainyard_servicekit.model_cache import ModelCache, Predictor
from trainyard_servicekit.plugin import FrameworkPlugin
from trainyard_wire.predictions import ImagePrediction, PredictImage, Prediction, PredictRun
from trainyard_wire.spec import JobSpec

IMAGE_TYPES = "JPEG, PNG, BMP, GIF, TIFF or WebP"


def top_classes(probabilities: list[float], labels: list[str], k: int) -> dict[str, Any]:
    """A classifier's answer for one image: its `k` most probable classes, most probable first."""
    ranked = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])[:k]
    return {
        "classes": [
            {"class_id": i, "label": labels[i], "probability": float(probabilities[i])}
            for i in ranked
        ]
    }


def decode_image(image: PredictImage) -> Any:
    """The image as RGB PIL; 422 naming the file when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = base64.b64decode(image.data, validate=True)
        with Image.open(io.BytesIO(data)) as opened:
            return opened.convert("RGB")
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        raise ApiError(
            422,
            f"{image.name} is not an image ({type(exc).__name__}): send {IMAGE_TYPES} files",
            [
                {
                    "field": "images",
                    "message": f"{image.name}: not an image",
                    "allowed": [IMAGE_TYPES],
                }
            ],
        ) from None


class ModelPredictions:
    """The service's predictions: its plugin, its storage, and the models it keeps loaded."""

    def __init__(
        self, plugin: FrameworkPlugin, storage_uri: str, folder: Path, budget_bytes: int
    ) -> None:
        self.plugin = plugin
        self.storage_uri = storage_uri
        self.folder = folder
        self._specs: dict[str, JobSpec] = {}
        self.cache = ModelCache(budget_bytes, self._load)

    def _load(self, key: str) -> Predictor:
        assert self.plugin.predictor is not None
        local = self.folder / hashlib.sha256(key.encode()).hexdigest()[:16]
        local /= PurePosixPath(key).name
        try:
            if not local.is_file():
                open_storage(self.storage_uri).get_file(key, local)
        except (OSError, StorageError) as exc:
            raise ApiError(503, f"cannot fetch the model {key} from storage: {exc}") from exc
        return self.plugin.predictor(local, self._specs[key])

    def predict(self, request: PredictRun) -> Prediction:
        if self.plugin.predictor is None or request.spec.task not in self.plugin.predict_tasks():
            raise ApiError(
                422,
                f"{self.plugin.name} does not predict {request.spec.task}",
                [
                    {
                        "field": "task",
                        "message": f"no {request.spec.task} predictions",
                        "allowed": self.plugin.predict_tasks(),
                    }
                ],
            )
        images = [decode_image(image) for image in request.images]
        self._specs[request.key] = request.spec
        predictor, cached = self.cache.get(request.key)
        answers = predictor.predict(images, request.top_k, request.conf)
        return Prediction(
            job_id=request.job_id,
            framework=self.plugin.name,
            task=request.spec.task,
            checkpoint=request.checkpoint,
            cached=cached,
            predictions=[
                ImagePrediction(image=sent.name, width=image.width, height=image.height, **answer)
                for sent, image, answer in zip(request.images, images, answers, strict=True)
            ],
        )
