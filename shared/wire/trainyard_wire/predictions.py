"""Predictions of a trained model: `POST /v1/models/{job_id}/predict` and the service call
behind it.

One answer per image, in the order sent: `classes` (the top-k classes with probabilities) for
classification; `detections` for detection, segmentation and pose, each a box in pixels of the
image as sent (`[x1, y1, x2, y2]`) with its class and score, plus its mask as polygons
(segmentation) or its keypoints `[x, y, confidence]` (pose).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from trainyard_wire.spec import CheckpointName, JobSpec, StrictModel

# What one predict call may carry (the gateway refuses more with 413 / 422, saying so).
MAX_PREDICT_IMAGES = 16
MAX_PREDICT_IMAGE_BYTES = 10 * 1024 * 1024
MAX_TOP_K = 100


class ClassScore(BaseModel):
    class_id: int
    label: str
    probability: float


class Detection(BaseModel):
    box: list[float] = Field(description="[x1, y1, x2, y2] in pixels of the image as sent.")
    class_id: int
    label: str
    score: float
    polygons: list[list[list[float]]] | None = Field(
        None, description="segmentation: the mask's outlines, each a list of [x, y] points."
    )
    keypoints: list[list[float]] | None = Field(
        None, description="pose: one [x, y, confidence] per keypoint."
    )


class ImagePrediction(BaseModel):
    image: str = Field(description="The file name the image was sent with.")
    width: int
    height: int
    classes: list[ClassScore] | None = None
    detections: list[Detection] | None = None


class Prediction(BaseModel):
    job_id: str
    framework: str
    task: str
    checkpoint: str
    predictions: list[ImagePrediction]
    # Whether the service had the model loaded already (false: this call loaded it).
    cached: bool


class PredictImage(StrictModel):
    name: str = Field(max_length=500)
    data: str = Field(description="The image file's bytes, base64.")


class PredictRun(StrictModel):
    """Gateway -> service: predict with the model of a succeeded training job."""

    job_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    spec: JobSpec
    checkpoint: CheckpointName = "best"
    key: str = Field(min_length=1, max_length=2048, description="The checkpoint's storage key.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    conf: float = Field(0.25, ge=0, le=1, description="Detections below this score are left out.")
    images: list[PredictImage] = Field(min_length=1, max_length=MAX_PREDICT_IMAGES)


class ModelCacheEntry(BaseModel):
    key: str
    bytes: int
    uses: int


class ModelCacheView(BaseModel):
    """The service's loaded models (`GET /v1/predict/cache`): what is in, and how often a
    model was loaded or evicted since the service started."""

    budget_bytes: int
    used_bytes: int
    loads: int
    hits: int
    evictions: int
    entries: list[ModelCacheEntry]
