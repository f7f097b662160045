"""The streaming multipart reader behind dataset uploads, fed the bytes httpx really sends."""

from __future__ import annotations

import asyncio
import io
import os

import httpx
import pytest

from trainyard_gateway.datasets.upload import UploadError, receive_multipart


def encoded(payload: bytes, name: str | None = "mine") -> tuple[str, bytes]:
    request = httpx.Request(
        "POST",
        "http://x/",
        files={"file": ("data.zip", payload)},
        data={"name": name} if name else None,
    )
    return request.headers["content-type"], request.read()


async def _chunks(body: bytes, size: int):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def receive(body: bytes, content_type: str, size: int, limit: int = 10**6):
    out = io.BytesIO()
    upload = asyncio.run(receive_multipart(_chunks(body, size), content_type, out, limit))
    return upload, out.getvalue()


@pytest.mark.parametrize("chunk", [1, 7, 70, 65536])
def test_file_and_fields_survive_any_chunking(chunk):
    payload = os.urandom(3000) + b"\r\n--" + os.urandom(100)  # boundary-like bytes inside
    content_type, body = encoded(payload)
    upload, data = receive(body, content_type, chunk)
    assert data == payload and upload.size == len(payload)
    assert (upload.filename, upload.fields) == ("data.zip", {"name": "mine"})


def test_over_the_limit_and_broken_bodies_are_refused():
    content_type, body = encoded(b"z" * 5000, name=None)
    with pytest.raises(UploadError) as over:
        receive(body, content_type, 512, limit=4096)
    assert over.value.status == 413 and "4096" in over.value.message
    with pytest.raises(UploadError) as cut:
        receive(body[:-10], content_type, 512)
    assert cut.value.status == 400
    with pytest.raises(UploadError) as no_boundary:
        receive(body, "multipart/form-data", 512)
    assert no_boundary.value.status == 400
