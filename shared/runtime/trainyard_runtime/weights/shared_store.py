"""Tier 2: pretrained weights in object storage, `models/pretrained/{framework}/{model}/…`.

The platform's shared cache: the first run that fetches a model from its public source puts it
here, and every other run (another service process, another node) takes it from here. The
manifest is written last, so a copy without one is incomplete and ignored; a copy whose files
do not match its manifest is discarded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from trainyard_runtime.storage.base import Storage, StorageError
from trainyard_runtime.storage.layout import pretrained_key, pretrained_prefix
from trainyard_runtime.weights.manifest import MANIFEST_FILE, Manifest, ManifestError


class SharedWeights:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def where(self, framework: str, model: str) -> str:
        return self.storage.uri_for(pretrained_prefix(framework, model).rstrip("/"))

    def manifest(self, framework: str, model: str) -> Manifest | None:
        """The stored manifest; None when there is none (not seeded, or not complete)."""
        key = pretrained_key(framework, model, MANIFEST_FILE)
        if not self.storage.exists(key):
            return None
        with self.storage.open_read(key) as handle:
            return Manifest.from_json(handle.read())

    def fetch(self, framework: str, model: str, dest: Path) -> Manifest | str:
        """Download the model's copy into `dest` and check it: its manifest, or why not.

        A copy that does not match its manifest is deleted from storage."""
        where = self.where(framework, model)
        try:
            manifest = self.manifest(framework, model)
        except ManifestError as exc:
            self.discard(framework, model)
            return f"discarded the copy at {where}: {exc}"
        if manifest is None:
            return f"no copy at {where}"
        for item in manifest.files:
            self.storage.get_file(pretrained_key(framework, model, item.path), dest / item.path)
        problem = manifest.problem(dest)
        if problem is not None:
            self.discard(framework, model)
            return f"discarded the copy at {where}: {problem}"
        return manifest

    def publish(self, folder: Path, manifest: Manifest) -> str:
        """Upload a verified folder and then its manifest; returns where it went."""
        framework, model = manifest.framework, manifest.model
        for item in manifest.files:
            self.storage.put_file(folder / item.path, pretrained_key(framework, model, item.path))
        manifest_file = folder / MANIFEST_FILE
        if not manifest_file.is_file() or Manifest.read(folder) != manifest:
            manifest.write(folder)
        self.storage.put_file(manifest_file, pretrained_key(framework, model, MANIFEST_FILE))
        return self.where(framework, model)

    def discard(self, framework: str, model: str) -> None:
        """Delete the model's copy, the manifest first (so no reader takes a partial copy)."""
        prefix = pretrained_prefix(framework, model)
        manifest_key = pretrained_key(framework, model, MANIFEST_FILE)
        with contextlib.suppress(StorageError, FileNotFoundError):
            self.storage.delete(manifest_key)
        for obj in list(self.storage.list_objects(prefix)):
            if obj.key.startswith(prefix):
                with contextlib.suppress(StorageError, FileNotFoundError):
                    self.storage.delete(obj.key)
