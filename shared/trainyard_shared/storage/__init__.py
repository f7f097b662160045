"""Object storage behind one URI: `file://…` today; other schemes register in `registry`."""

from trainyard_shared.storage.base import ObjectInfo, Storage, StoredObject, UnsafeKeyError
from trainyard_shared.storage.registry import open_storage

__all__ = ["ObjectInfo", "Storage", "StoredObject", "UnsafeKeyError", "open_storage"]
