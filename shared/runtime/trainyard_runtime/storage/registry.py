"""Pick the storage backend from the URI's scheme."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from trainyard_runtime.storage.base import Storage
from trainyard_runtime.storage.local import LocalStorage


def _local(uri: str) -> Storage:
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise ValueError(f"file:// storage must be a local path, got host {parsed.netloc!r}")
    return LocalStorage(Path(unquote(parsed.path)))


def _s3(uri: str) -> Storage:
    # Imported here: boto3 is slow to import and only S3 users need it.
    from trainyard_runtime.storage.s3 import S3Storage

    return S3Storage.from_uri(uri)


BACKENDS: dict[str, Callable[[str], Storage]] = {"file": _local, "s3": _s3}


def open_storage(uri: str) -> Storage:
    scheme = urlparse(uri).scheme
    if scheme == "":  # a bare path
        return LocalStorage(Path(uri))
    try:
        backend = BACKENDS[scheme]
    except KeyError:
        allowed = ", ".join(f"{s}://" for s in sorted(BACKENDS))
        raise ValueError(
            f"STORAGE_URI scheme {scheme!r} is not supported (allowed: {allowed})"
        ) from None
    return backend(uri)
