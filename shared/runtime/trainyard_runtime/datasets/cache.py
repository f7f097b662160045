"""A local cache of datasets fetched from object storage, keyed by their content.

An entry is `<cache dir>/<content key>/`, the key a hash of the listed objects' (key, size,
etag): unchanged content is reused without a download, changed content is a new entry. A
download goes into a temporary folder beside the entries and is renamed into place only when
complete, so a partial download never leaves an entry; when two runs fetch the same dataset at
once, the first rename wins and the other discards its copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trainyard_runtime.storage.base import ObjectInfo, Storage, check_key

# Leftovers of runs killed mid-download; old enough that no live download still owns them.
STALE_TEMP_SECONDS = 24 * 3600
TEMP_PREFIX = ".fetch-"


class DatasetNotFound(LookupError):
    pass


class DatasetTooLarge(ValueError):
    pass


def default_cache_dir(env: dict[str, str] | None = None) -> Path:
    """DATASET_CACHE_DIR, else `~/.cache/trainyard/datasets` (read when called, not imported)."""
    env = dict(os.environ if env is None else env)
    configured = env.get("DATASET_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "trainyard" / "datasets"


def list_dataset(storage: Storage, prefix: str = "") -> list[ObjectInfo]:
    """The objects of a dataset under `prefix` (a folder: '' or ending in '/'), by key."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return sorted(
        (o for o in storage.list_objects(prefix) if o.key.startswith(prefix)),
        key=lambda o: o.key,
    )


def content_key(objects: Iterable[ObjectInfo], prefix: str = "") -> str:
    """A hash of (relative key, size, etag): equal for unchanged content wherever it is listed."""
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: o.key):
        digest.update(f"{obj.key.removeprefix(prefix)}\0{obj.size}\0{obj.etag}\n".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Fetched:
    path: Path
    key: str
    downloaded: bool  # False when the entry was already in the cache
    files: int
    size_bytes: int


class DatasetCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def fetch(
        self,
        storage: Storage,
        prefix: str = "",
        *,
        max_files: int | None = None,
        max_bytes: int | None = None,
    ) -> Fetched:
        """The dataset under `prefix` as a local folder, downloaded only if not cached yet."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        objects = list_dataset(storage, prefix)
        where = storage.uri_for(prefix.rstrip("/")) if prefix else storage.root_uri
        if not objects:
            raise DatasetNotFound(f"no objects under {where}")
        total = sum(o.size for o in objects)
        if max_files is not None and len(objects) > max_files:
            raise DatasetTooLarge(f"{where} has {len(objects)} files (limit {max_files})")
        if max_bytes is not None and total > max_bytes:
            raise DatasetTooLarge(f"{where} holds {total} bytes (limit {max_bytes})")
        key = content_key(objects, prefix)
        entry = self.root / key
        if entry.is_dir():
            return Fetched(entry, key, False, len(objects), total)
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temps()
        temp = Path(tempfile.mkdtemp(dir=self.root, prefix=f"{TEMP_PREFIX}{key[:12]}-"))
        try:
            for obj in objects:
                relative = check_key(obj.key[len(prefix) :])  # refuses keys leaving the folder
                local = storage.get_file(obj.key, temp / relative)
                if local.stat().st_size != obj.size:
                    raise OSError(f"{obj.key} changed while it was downloaded; try again")
            try:
                os.rename(temp, entry)  # atomic; fails when another run renamed first
            except OSError:
                if not entry.is_dir():
                    raise
                shutil.rmtree(temp, ignore_errors=True)  # theirs is the same content
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return Fetched(entry, key, True, len(objects), total)

    def _remove_stale_temps(self) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for temp in self.root.glob(f"{TEMP_PREFIX}*"):
            try:
                if temp.stat().st_mtime < cutoff:
                    shutil.rmtree(temp, ignore_errors=True)
            except FileNotFoundError:
                pass
