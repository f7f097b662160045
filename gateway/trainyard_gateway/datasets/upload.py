"""Receive an uploaded dataset archive from a request body, streamed to a file with a byte limit.

A minimal multipart/form-data reader (the gateway does not depend on python-multipart): one file
field streamed to disk as it arrives, small text fields kept in memory.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 4096
_PARAM = re.compile(r';\s*([a-zA-Z*]+)="?([^";]*)"?')


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    size: int = 0  # bytes of the file received
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def boundary_of(content_type: str) -> bytes:
    params = dict((k.lower(), v) for k, v in _PARAM.findall(content_type))
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise UploadError(400, "multipart/form-data needs a boundary in its Content-Type")
    return boundary.encode("latin-1")


class _Sink:
    """Where the current part's bytes go: the file (counted against the limit) or a field."""

    def __init__(self, out: BinaryIO | None, upload: Upload, max_bytes: int) -> None:
        self.out, self.upload, self.max_bytes = out, upload, max_bytes
        self.value = bytearray()

    def write(self, data: bytes) -> None:
        if self.out is not None:
            self.upload.size += len(data)
            if self.upload.size > self.max_bytes:
                raise UploadError(413, f"the upload is over the limit of {self.max_bytes} bytes")
            self.out.write(data)
        else:
            self.value += data
            if len(self.value) > MAX_FIELD_BYTES:
                raise UploadError(422, f"form fields are limited to {MAX_FIELD_BYTES} bytes")


async def receive_multipart(
    chunks: AsyncIterator[bytes],
    content_type: str,
    out: BinaryIO,
    max_bytes: int,
    file_field: str = "file",
) -> Upload:
    """Stream the `file_field` part into `out`; other parts become text fields."""
    delimiter = b"--" + boundary_of(content_type)
    upload = Upload()
    buffer = bytearray()
    state = "preamble"  # -> after_delimiter -> headers -> body -> after_delimiter … -> end
    sink: _Sink | None = None
    name = ""
    async for chunk in chunks:
        buffer += chunk
        while True:
            if state == "preamble":
                at = buffer.find(delimiter)
                if at < 0:
                    del buffer[: max(0, len(buffer) - len(delimiter))]
                    break
                del buffer[: at + len(delimiter)]
                state = "after_delimiter"
            elif state == "after_delimiter":
                if len(buffer) < 2:
                    break
                if buffer[:2] == b"--":
                    state = "end"
                    break
                del buffer[:2]  # CRLF
                state = "headers"
            elif state == "headers":
                at = buffer.find(b"\r\n\r\n")
                if at < 0:
                    if len(buffer) > MAX_HEADER_BYTES:
                        raise UploadError(400, "multipart part headers are too long")
                    break
                headers = bytes(buffer[:at]).decode("utf-8", "replace")
                del buffer[: at + 4]
                name, filename = _disposition(headers)
                if name == file_field:
                    if upload.filename is not None:
                        raise UploadError(422, f"send one `{file_field}` part, not several")
                    upload.filename = filename or "upload.zip"
                    sink = _Sink(out, upload, max_bytes)
                else:
                    sink = _Sink(None, upload, max_bytes)
                state = "body"
            elif state == "body":
                assert sink is not None
                at = buffer.find(b"\r\n" + delimiter)
                if at < 0:
                    keep = len(delimiter) + 2
                    if len(buffer) > keep:
                        sink.write(bytes(buffer[: len(buffer) - keep]))
                        del buffer[: len(buffer) - keep]
                    break
                sink.write(bytes(buffer[:at]))
                if sink.out is None:
                    upload.fields[name] = sink.value.decode("utf-8", "replace")
                del buffer[: at + 2 + len(delimiter)]
                state = "after_delimiter"
            else:  # end: ignore the epilogue
                buffer.clear()
                break
    if state != "end":
        raise UploadError(400, "the multipart body ended before its closing boundary")
    if upload.filename is None:
        raise UploadError(422, f"the form has no `{file_field}` part (the zip to upload)")
    return upload


def _disposition(headers: str) -> tuple[str, str | None]:
    for line in headers.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == "content-disposition":
            params = {k.lower(): v for k, v in _PARAM.findall(value)}
            return params.get("name", ""), params.get("filename")
    return "", None


async def receive_raw(chunks: AsyncIterator[bytes], out: BinaryIO, max_bytes: int) -> int:
    """Stream a plain body (Content-Type application/zip) into `out`; returns its size."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise UploadError(413, f"the upload is over the limit of {max_bytes} bytes")
        out.write(chunk)
    return size
