"""Predictions with a trained model: `POST /v1/models/{job_id}/predict` (multipart images)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from trainyard_gateway.deps import Gateway, GatewayDep
from trainyard_gateway.predictions import ask_service, check_images, predict_run
from trainyard_wire.predictions import MAX_PREDICT_IMAGE_BYTES, MAX_TOP_K, Prediction

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.post("/{job_id}/predict", response_model=Prediction)
async def predict(
    job_id: str,
    gateway: GatewayDep,
    images: Annotated[list[UploadFile], File(description="One or more image files.")],
    checkpoint: Annotated[Literal["best", "last"], Form()] = "best",
    top_k: Annotated[int, Form(ge=1, le=MAX_TOP_K)] = 5,
    conf: Annotated[float, Form(ge=0, le=1)] = 0.25,
) -> Prediction:
    """The model of a succeeded training job, asked about each image: top-k classes, or boxes
    with class and score (with mask outlines for segmentation, keypoints for pose)."""
    files = []
    for index, upload in enumerate(images):
        data = await upload.read(MAX_PREDICT_IMAGE_BYTES + 1)
        files.append((upload.filename or f"image-{index + 1}", data))
    check_images(files)
    return await run_in_threadpool(_predict, gateway, job_id, checkpoint, top_k, conf, files)


def _predict(
    gateway: Gateway,
    job_id: str,
    checkpoint: str,
    top_k: int,
    conf: float,
    files: list[tuple[str, bytes]],
) -> Prediction:
    with gateway.db.read() as session:
        framework, request = predict_run(session, job_id, checkpoint, top_k, conf, files)
    return ask_service(gateway.registry, framework, request)  # no session held meanwhile
