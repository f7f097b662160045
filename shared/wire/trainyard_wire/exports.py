"""Bodies of `POST /v1/jobs/{id}/export` and `…/evaluate`: what to do with a trained model."""

from __future__ import annotations

from pydantic import Field

from trainyard_wire.spec import CheckpointName, DatasetRef, ExportFormat, StrictModel


class ExportRequest(StrictModel):
    format: ExportFormat = Field(description="onnx for every framework; torchscript where offered.")
    checkpoint: CheckpointName = "best"
    atol: float = Field(1e-3, gt=0, le=1, description="Largest output difference accepted.")
    min_top1_agreement: float = Field(1.0, ge=0, le=1)
    max_images: int = Field(32, ge=1, le=1000, description="Validation images compared.")
    max_map_diff: float = Field(
        0.01, ge=0, le=1, description="Detection/segmentation/pose: largest mAP difference."
    )


class EvaluateRequest(StrictModel):
    """The body of `POST /v1/jobs/{id}/evaluate`: which checkpoint, on which data."""

    checkpoint: CheckpointName = "best"
    dataset: DatasetRef | None = Field(
        None, description="Data of the training job's format (default: the training job's own)."
    )
