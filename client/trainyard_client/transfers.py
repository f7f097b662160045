"""Moving files: a dataset folder zipped for upload, a multipart body streamed from disk, an
artifact streamed to disk with its checksum checked."""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from trainyard_client.errors import ChecksumMismatch

CHUNK_BYTES = 1 << 20
# progress(done_bytes, total_bytes); total is None when the size is not known in advance.
Progress = Callable[[int, int | None], None]


def zip_folder(folder: Path, destination: Path) -> Path:
    """Zip every file under `folder`, named relative to it (`train/…`, `val/…`, `data.yaml`)."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return destination


def _quoted(value: str) -> str:
    """A form-data parameter value: no quote or line break may end it early."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")


class MultipartUpload(Iterable[bytes]):
    """A multipart/form-data body with the zip as the `file` field (and an optional `name`),
    read from disk in chunks while it is sent. Iterating again starts over, so a retried
    request sends the whole body again."""

    def __init__(
        self,
        zip_path: Path,
        filename: str,
        name: str | None,
        progress: Progress | None,
        fields: dict[str, str] | None = None,
    ) -> None:
        self.zip_path = zip_path
        self.progress = progress
        self.boundary = f"trainyard-{uuid.uuid4().hex}"
        head = b""
        for key, value in {**({"name": name} if name else {}), **(fields or {})}.items():
            head += self._part_header(f'name="{key}"') + value.encode() + b"\r\n"
        head += self._part_header(
            f'name="file"; filename="{_quoted(filename)}"', "Content-Type: application/zip\r\n"
        )
        self.head = head
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.file_size = zip_path.stat().st_size

    def _part_header(self, disposition: str, extra: str = "") -> bytes:
        header = f"--{self.boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
        return (header + extra + "\r\n").encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int:
        return len(self.head) + self.file_size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        sent = 0
        with self.zip_path.open("rb") as source:
            while chunk := source.read(CHUNK_BYTES):
                sent += len(chunk)
                yield chunk
                if self.progress:
                    self.progress(sent, self.file_size)
        yield self.tail


def save_stream(
    chunks: Iterable[bytes],
    destination: Path,
    total: int | None,
    expected_sha256: str | None,
    progress: Progress | None = None,
) -> Path:
    """Write the chunks next to `destination`, check the checksum, then move it into place:
    a broken download never sits under the final name."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    digest, done = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise ChecksumMismatch(
                f"{destination.name}: sha256 of the {done} bytes received is "
                f"{digest.hexdigest()}, the gateway recorded {expected_sha256}"
            )
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination
