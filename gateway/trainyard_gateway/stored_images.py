"""Predict inputs named by URI (the `urls` form field of `POST /v1/models/{job_id}/predict`):
objects in the platform's own storage (`STORAGE_URI`), read here through the storage layer and
sent on to the service like uploaded files.

Only objects under the storage's root are read: the gateway's credentials may reach more than a
caller should see through it (other buckets, for S3), and a `file://` URI from elsewhere would be
any file on the gateway's machine.
"""

from __future__ import annotations

from urllib.parse import urlparse

from trainyard_gateway.errors import InvalidInput, Unavailable
from trainyard_runtime.storage import Storage, StorageError, UnsafeKeyError
from trainyard_wire.predictions import MAX_PREDICT_IMAGE_BYTES


def allowed_uris(storage: Storage) -> str:
    return f"{storage.root_uri.rstrip('/')}/…"


def _refused(uri: str, problem: str, storage: Storage) -> InvalidInput:
    allowed = allowed_uris(storage)
    return InvalidInput(
        f"{uri}: {problem}; urls name image objects in this platform's storage ({allowed})",
        [{"field": "urls", "message": f"{uri}: {problem}", "allowed": [allowed]}],
    )


def stored_key(storage: Storage, uri: str) -> str:
    """The storage key a URI names; 422 for another scheme or a place outside the storage."""
    scheme = urlparse(uri).scheme
    if scheme != urlparse(storage.root_uri).scheme:
        problem = f"unknown scheme {scheme + '://' if scheme else '(none)'}"
        raise _refused(uri, problem, storage)
    try:
        return storage.key_for(uri)
    except UnsafeKeyError:
        raise _refused(uri, "not in this platform's storage", storage) from None


def read_stored_images(storage: Storage, uris: list[str]) -> list[tuple[str, bytes]]:
    """(the URI, its bytes) per URI, at most one byte over the size limit (so the size check
    can say it is too large without reading all of it); 422 for a missing object, 503 when the
    storage cannot be reached."""
    keys = [stored_key(storage, uri) for uri in uris]  # every URI checked before any read
    read: list[tuple[str, bytes]] = []
    for uri, key in zip(uris, keys, strict=True):
        try:
            with storage.open_read(key) as body:
                read.append((uri, body.read(MAX_PREDICT_IMAGE_BYTES + 1)))
        except FileNotFoundError:
            raise _refused(uri, "no such object", storage) from None
        except IsADirectoryError:
            raise _refused(uri, "a folder, not an object", storage) from None
        except ValueError:  # a local key whose link leads out of the storage
            raise _refused(uri, "not in this platform's storage", storage) from None
        except (OSError, StorageError) as exc:
            raise Unavailable(f"cannot read {uri} from storage: {exc}") from None
    return read
