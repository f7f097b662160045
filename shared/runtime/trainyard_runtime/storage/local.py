"""Storage in a local folder: the embedded default (`file:///path`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from trainyard_runtime.storage.base import (
    ObjectInfo,
    Storage,
    StorageError,
    StoredObject,
    check_key,
    sha256_file,
)


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root_uri = self.root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):  # a symlink inside the root could point out
            raise ValueError(f"storage key {key!r} resolves outside the storage root")
        return path

    def put_file(self, local: Path, key: str) -> StoredObject:
        target = self._path(key)
        try:
            return self._put(local, key, target)
        except FileNotFoundError as exc:
            if str(exc.filename) == str(local):
                raise  # the file to store is missing: the caller's fault, not the storage's
            raise self._error(key, exc) from exc
        except OSError as exc:  # full, read-only, gone: as S3 down would be
            raise self._error(key, exc) from exc

    def _put(self, local: Path, key: str, target: Path) -> StoredObject:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Copy to a temporary name, then rename: readers never see half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        os.close(fd)
        try:
            shutil.copyfile(local, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key, self.uri_for(key), target.stat().st_size, sha256_file(target))

    def _error(self, key: str, exc: OSError) -> StorageError:
        return StorageError(
            f"could not write {key} to the storage folder {self.root}: "
            f"{exc.strerror or exc}; check that it is mounted, writable and has space"
        )

    def get_file(self, key: str, local: Path) -> Path:
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), local)
        return local

    def open_read(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _keys(self, prefix: str) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".upload-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for key in self._keys(prefix):
            stat = self._path(key).stat()
            yield ObjectInfo(key, stat.st_size, f"{stat.st_size}-{stat.st_mtime_ns}")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
