"""The storage interface every backend implements, and the key check they all share."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class UnsafeKeyError(ValueError):
    pass


class StorageError(RuntimeError):
    """Storage could not be reached or refused the request; the message says what to check."""


def check_key(key: str) -> str:
    """Refuse keys that could leave the storage root: absolute, `..`, empty parts, backslashes."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise UnsafeKeyError(f"unsafe storage key {key!r}: must be a relative path")
    if any(part in ("..", ".", "") for part in key.split("/")):
        raise UnsafeKeyError(f"unsafe storage key {key!r}: no '.', '..' or empty parts allowed")
    return key


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object; `etag` changes whenever the content does (S3 ETag, or size+mtime)."""

    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str
    size: int
    sha256: str | None = None


class Storage(ABC):
    """A flat key space under one root URI."""

    root_uri: str

    @abstractmethod
    def put_file(self, local: Path, key: str) -> StoredObject: ...

    @abstractmethod
    def get_file(self, key: str, local: Path) -> Path: ...

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def close(self) -> None:  # noqa: B027 - deliberately optional for backends
        """Release connections; a no-op where there are none."""

    def presigned_url(self, key: str, expires_seconds: int = 3600) -> str | None:
        """A URL anyone can download the object from for a while; None where there is none."""
        return None

    @abstractmethod
    def delete(self, key: str) -> None: ...

    def uri_for(self, key: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{check_key(key)}"

    def key_for(self, uri: str) -> str:
        """The key of a URI under this storage's root; refuses a URI from elsewhere."""
        root = self.root_uri.rstrip("/") + "/"
        if not uri.startswith(root):
            raise UnsafeKeyError(f"{uri!r} is not under this storage ({self.root_uri})")
        return check_key(uri[len(root) :])
