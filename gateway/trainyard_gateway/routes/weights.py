"""Public weights API: seed pretrained weights into the shared cache, list them, delete them."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from trainyard_gateway import seeded_weights
from trainyard_gateway.datasets.upload import UploadError, receive_multipart
from trainyard_gateway.deps import GatewayDep
from trainyard_gateway.errors import InvalidInput, UnsupportedMediaType, error_for_status
from trainyard_wire.weights import WEIGHTS_PATH, WeightsView

router = APIRouter(prefix=WEIGHTS_PATH, tags=["weights"])

FIELDS = ["file (a weights file, or a .zip of a model folder)", "framework", "model"]
UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "framework", "model"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "framework": {"type": "string"},
                        "model": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post("", status_code=201, response_model=WeightsView, openapi_extra=UPLOAD_DOC)
async def seed(request: Request, gateway: GatewayDep) -> WeightsView:
    """Upload weights for a framework's model: checked by loading them in that framework's
    service, then stored where runs take pretrained weights from (object storage, tier 2)."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'!r} is not accepted",
            [{"field": "content-type", "message": "send multipart/form-data", "allowed": FIELDS}],
        )
    limit = gateway.settings.max_weights_upload_bytes
    scratch = gateway.settings.data_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="weights-upload-") as temp:
        path = Path(temp) / "upload"
        try:
            with path.open("wb") as out:
                upload = await receive_multipart(request.stream(), content_type, out, limit)
        except UploadError as exc:
            suffix = " (MAX_WEIGHTS_UPLOAD_BYTES)" if exc.status == 413 else ""
            raise error_for_status(exc.status, exc.message + suffix) from None
        framework = (upload.fields.get("framework") or "").strip()
        model = (upload.fields.get("model") or "").strip()
        filename = Path(upload.filename or "").name
        missing: list[dict[str, Any]] = [
            {"field": name, "message": "required", "allowed": FIELDS}
            for name, value in (("framework", framework), ("model", model), ("file", filename))
            if not value
        ]
        if missing:
            names = ", ".join(m["field"] for m in missing)
            raise InvalidInput(f"missing multipart fields: {names}", missing)
        if len(model) > 500:
            raise InvalidInput(
                "model is too long", [{"field": "model", "message": "at most 500 characters"}]
            )
        return await run_in_threadpool(
            seeded_weights.seed, gateway, framework, model, filename, path
        )


@router.get("", response_model=list[WeightsView])
def list_all(gateway: GatewayDep) -> list[WeightsView]:
    """Every seeded model's weights, by framework and model."""
    return seeded_weights.list_weights(gateway)


@router.delete("/{weights_id}", status_code=204)
def delete_one(weights_id: str, gateway: GatewayDep) -> Response:
    """409 while a queued or running job needs the weights."""
    seeded_weights.delete(gateway, weights_id)
    return Response(status_code=204)
