"""Predictions with a trained model: `POST /v1/models/{job_id}/predict` (multipart images, or
URIs of image objects in the platform's storage, or both)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from trainyard_gateway.deps import Gateway, GatewayDep
from trainyard_gateway.predictions import ask_service, check_count, check_images, predict_run
from trainyard_gateway.stored_images import read_stored_images
from trainyard_wire.predictions import MAX_PREDICT_IMAGE_BYTES, MAX_TOP_K, Prediction

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.post("/{job_id}/predict", response_model=Prediction)
async def predict(
    job_id: str,
    gateway: GatewayDep,
    images: Annotated[list[UploadFile] | None, File(description="Image files.")] = None,
    urls: Annotated[
        list[str] | None,
        Form(
            description="URIs of image objects in the platform's storage (under STORAGE_URI, "
            "e.g. s3://bucket/prefix/datasets/…/a.png); answered after the uploaded files."
        ),
    ] = None,
    checkpoint: Annotated[Literal["best", "last"], Form()] = "best",
    top_k: Annotated[int, Form(ge=1, le=MAX_TOP_K)] = 5,
    conf: Annotated[float, Form(ge=0, le=1)] = 0.25,
) -> Prediction:
    """The model of a succeeded training job, asked about each image: top-k classes, or boxes
    with class and score (with mask outlines for segmentation, keypoints for pose)."""
    uploads, uris = images or [], urls or []
    check_count(len(uploads) + len(uris))
    files = []
    for index, upload in enumerate(uploads):
        data = await upload.read(MAX_PREDICT_IMAGE_BYTES + 1)
        files.append((upload.filename or f"image-{index + 1}", data))
    check_images(files)
    return await run_in_threadpool(_predict, gateway, job_id, checkpoint, top_k, conf, files, uris)


def _predict(
    gateway: Gateway,
    job_id: str,
    checkpoint: str,
    top_k: int,
    conf: float,
    files: list[tuple[str, bytes]],
    uris: list[str],
) -> Prediction:
    stored = read_stored_images(gateway.storage, uris)
    check_images(stored)
    with gateway.db.read() as session:
        framework, request = predict_run(session, job_id, checkpoint, top_k, conf, files + stored)
    return ask_service(gateway.registry, framework, request)  # no session held meanwhile
