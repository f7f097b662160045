"""Predictions with a trained model: `POST /v1/models/{job_id}/predict`, checked here and
answered by the framework's service, which keeps recently used models loaded.

Only a succeeded training job has a model (derived_jobs.model_source says why another has
none). Images are counted and sized here; whether each is an image the service says, since it
decodes them anyway.
"""

from __future__ import annotations

import base64

from trainyard_gateway.db import ReadSession
from trainyard_gateway.derived_jobs import model_source
from trainyard_gateway.errors import InvalidInput, TooLarge, Unavailable, error_for_status
from trainyard_gateway.job_queries import get_job
from trainyard_gateway.service_client import (
    ServiceBusy,
    ServiceRejected,
    ServiceStatusError,
    ServiceUnreachable,
)
from trainyard_gateway.services import ServiceRegistry
from trainyard_wire.predictions import (
    MAX_PREDICT_IMAGE_BYTES,
    MAX_PREDICT_IMAGES,
    PredictImage,
    Prediction,
    PredictRun,
)
from trainyard_wire.spec import JobSpec

PREDICT_PREFIX = "/v1/models/"
# The whole multipart body: the images at their largest, and room for the form around them.
MAX_PREDICT_BODY = MAX_PREDICT_IMAGES * MAX_PREDICT_IMAGE_BYTES + 1024 * 1024
LIMITS = f"at most {MAX_PREDICT_IMAGES} images of {MAX_PREDICT_IMAGE_BYTES // 2**20} MiB each"


def check_count(count: int) -> None:
    """422 for no image or too many, counting uploaded files and storage URIs together."""
    if 1 <= count <= MAX_PREDICT_IMAGES:
        return
    problem = "no images" if count == 0 else f"{count} images"
    raise InvalidInput(
        f"{problem} sent: one request takes {LIMITS}, as image files (images) or URIs of "
        "image objects in storage (urls)",
        [
            {
                "field": "images",
                "message": problem,
                "allowed": [f"1 to {MAX_PREDICT_IMAGES} images"],
            }
        ],
    )


def check_images(images: list[tuple[str, bytes]]) -> None:
    """422 for an empty image, 413 for one too large; each says the limits."""
    for name, data in images:
        if len(data) > MAX_PREDICT_IMAGE_BYTES:
            raise TooLarge(f"{name} is larger than {MAX_PREDICT_IMAGE_BYTES} bytes: {LIMITS}")
        if not data:
            raise InvalidInput(
                f"{name} is empty: send image files ({LIMITS})",
                [{"field": "images", "message": f"{name}: empty file"}],
            )


def predict_run(
    session: ReadSession,
    job_id: str,
    checkpoint: str,
    top_k: int,
    conf: float,
    images: list[tuple[str, bytes]],
) -> tuple[str, PredictRun]:
    """The job's framework and the service request; 404 / 409 for a job with no model."""
    job = get_job(session, job_id)
    source = model_source(session, job, checkpoint)
    assert source.key is not None
    return job.framework, PredictRun(
        job_id=job.id,
        spec=JobSpec.model_validate(job.spec),
        checkpoint=source.checkpoint,
        key=source.key,
        top_k=top_k,
        conf=conf,
        images=[
            PredictImage(name=name[:500], data=base64.b64encode(data).decode())
            for name, data in images
        ],
    )


def ask_service(registry: ServiceRegistry, framework: str, request: PredictRun) -> Prediction:
    try:
        return registry.client(framework).predict(request)
    except ServiceRejected as exc:
        raise InvalidInput(exc.message, exc.errors) from None
    except (ServiceUnreachable, ServiceBusy) as exc:
        raise Unavailable(f"the {framework} service cannot predict now: {exc.message}") from None
    except ServiceStatusError as exc:
        status = exc.status_code if 400 <= exc.status_code < 500 else 503
        raise error_for_status(status, f"the {framework} service: {exc.message}") from None
