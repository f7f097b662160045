"""Object storage behind one URI: `file://…` (a local folder) or `s3://bucket/prefix`."""

from trainyard_runtime.storage.base import (
    ObjectInfo,
    Storage,
    StorageError,
    StoredObject,
    UnsafeKeyError,
)
from trainyard_runtime.storage.registry import open_storage

__all__ = [
    "ObjectInfo",
    "Storage",
    "StorageError",
    "StoredObject",
    "UnsafeKeyError",
    "open_storage",
]
