"""Public dataset API: upload a zip or register a location, list, inspect, delete."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from trainyard_gateway.datasets.registry import (
    RegisterDataset,
    create_from_zip,
    delete_dataset,
    get_dataset,
    list_datasets,
    register_uri,
    view,
)
from trainyard_gateway.datasets.upload import UploadError, receive_multipart, receive_raw
from trainyard_gateway.deps import Gateway, GatewayDep, ReadSessionDep
from trainyard_gateway.errors import InvalidInput, TooLarge, UnsupportedMediaType, error_for_status
from trainyard_wire.datasets import DatasetView
from trainyard_wire.errors import describe_errors, summarize

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

MAX_JSON_BYTES = 64 * 1024
# Multipart framing around the zip: boundaries, part headers, the `name` field.
MULTIPART_SLACK = 64 * 1024
ALLOWED_TYPES = ["multipart/form-data (field `file`, optional `name`)", "application/json"]
UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                    },
                }
            },
            "application/json": {"schema": RegisterDataset.model_json_schema()},
        },
    }
}


def _check_length(request: Request, limit: int, slack: int) -> None:
    """Refuse a body declared too large before reading any of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + slack:
        raise TooLarge(
            f"the upload ({declared} bytes) is over the limit of {limit} bytes "
            "(MAX_DATASET_UPLOAD_BYTES)",
        )


async def _register(request: Request, gateway: Gateway) -> DatasetView:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise TooLarge(f"a JSON body is limited to {MAX_JSON_BYTES} bytes")
    try:
        payload = RegisterDataset.model_validate(json.loads(body or b"null"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    except ValidationError as exc:
        errors = describe_errors(exc.errors(), RegisterDataset)
        raise InvalidInput("invalid request: " + summarize(errors), errors) from None
    return await run_in_threadpool(register_uri, gateway, payload)


async def _upload(request: Request, gateway: Gateway, content_type: str, name: str | None):
    limit = gateway.settings.max_dataset_upload_bytes
    multipart = content_type.lower().startswith("multipart/form-data")
    _check_length(request, limit, MULTIPART_SLACK if multipart else 0)
    scratch = gateway.settings.data_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="dataset-upload-") as temp:
        workdir = Path(temp)
        zip_path = workdir / "upload.zip"
        try:
            with zip_path.open("wb") as out:
                if multipart:
                    upload = await receive_multipart(request.stream(), content_type, out, limit)
                    name = name or upload.fields.get("name") or Path(upload.filename or "").stem
                else:
                    await receive_raw(request.stream(), out, limit)
        except UploadError as exc:
            suffix = " (MAX_DATASET_UPLOAD_BYTES)" if exc.status == 413 else ""
            raise error_for_status(exc.status, exc.message + suffix) from None
        return await run_in_threadpool(create_from_zip, gateway, zip_path, name or None, workdir)


@router.post("", status_code=201, response_model=DatasetView, openapi_extra=UPLOAD_DOC)
async def create_dataset(
    request: Request,
    gateway: GatewayDep,
    name: Annotated[str | None, Query(max_length=200, description="for a raw zip body")] = None,
) -> DatasetView:
    """Upload a zip (multipart field `file`, or an application/zip body), or register a URI."""
    # The media type is case-insensitive, a multipart boundary is not (browsers mix cases).
    content_type = request.headers.get("content-type", "")
    media_type = content_type.lower()
    if media_type.startswith("application/json"):
        return await _register(request, gateway)
    if media_type.startswith(("multipart/form-data", "application/zip")):
        return await _upload(request, gateway, content_type, name)
    raise UnsupportedMediaType(
        f"Content-Type {content_type or '(none)'!r} is not accepted",
        [
            {
                "field": "content-type",
                "message": "unsupported media type",
                "allowed": [*ALLOWED_TYPES, "application/zip"],
            }
        ],
    )


@router.get("", response_model=list[DatasetView])
def list_all(
    session: ReadSessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[DatasetView]:
    """Newest first."""
    return list_datasets(session, limit)


@router.get("/{dataset_id}", response_model=DatasetView)
def get_one(dataset_id: str, session: ReadSessionDep) -> DatasetView:
    return view(get_dataset(session, dataset_id))


@router.delete("/{dataset_id}", status_code=204)
def delete_one(dataset_id: str, gateway: GatewayDep) -> Response:
    delete_dataset(gateway, dataset_id)
    return Response(status_code=204)
