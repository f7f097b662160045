"""Tier 1: pretrained weights on this machine, under WEIGHTS_CACHE_DIR, checked by content.

An entry is `<cache dir>/<framework>/<model>/` with its files and manifest. An entry is
written into a temporary folder beside it and renamed into place only when complete, so a run
killed mid-copy leaves no entry; a per-model lock file makes concurrent runs of one model take
turns, so the second finds what the first fetched instead of downloading it again. An entry
whose files no longer match its manifest is removed, never loaded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from trainyard_runtime.storage.layout import storage_model_name
from trainyard_runtime.weights.manifest import Manifest, ManifestError


def default_weights_cache() -> Path:
    """Where tier 1 lives without WEIGHTS_CACHE_DIR (read when called, not imported)."""
    return Path.home() / ".cache" / "trainyard" / "weights"


TEMP_PREFIX = ".fetch-"
STALE_TEMP_SECONDS = 24 * 3600  # leftovers of killed runs; no live copy is this old


class WeightsCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, framework: str, model: str) -> Path:
        return self.root / framework / storage_model_name(model)

    @contextlib.contextmanager
    def locked(self, framework: str, model: str) -> Iterator[None]:
        """Hold the model's lock (other processes resolving the same model wait here)."""
        folder = self.root / framework
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f".{storage_model_name(model)}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def lookup(self, framework: str, model: str) -> tuple[Path, Manifest] | str:
        """The verified entry and its manifest, or why there is none (a corrupt one is removed).

        Call with the model's lock held."""
        entry = self.entry(framework, model)
        if not entry.is_dir():
            return f"no entry at {entry}"
        try:
            manifest = Manifest.read(entry)
            problem = manifest.problem(entry)
        except ManifestError as exc:
            problem = str(exc)
        if problem is None:
            return entry, manifest
        self._remove(entry)
        return f"discarded the copy at {entry}: {problem}"

    def install(self, framework: str, model: str, folder: Path, manifest: Manifest) -> Path:
        """Copy a verified folder in as the model's entry (call with the model's lock held)."""
        entry = self.entry(framework, model)
        entry.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temps(entry.parent)
        temp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=TEMP_PREFIX))
        try:
            for item in manifest.files:
                target = temp / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / item.path, target)
            manifest.write(temp)
            if entry.exists():
                self._remove(entry)
            os.rename(temp, entry)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        return entry

    @staticmethod
    def _remove(entry: Path) -> None:
        # Renamed aside first: a reader never sees a half-deleted entry under the real name.
        aside = entry.with_name(f"{TEMP_PREFIX}{entry.name}-{os.getpid()}-{time.monotonic_ns()}")
        with contextlib.suppress(FileNotFoundError):
            os.rename(entry, aside)
        shutil.rmtree(aside, ignore_errors=True)

    @staticmethod
    def _remove_stale_temps(folder: Path) -> None:
        cutoff = time.time() - STALE_TEMP_SECONDS
        for temp in folder.glob(f"{TEMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < cutoff:
                    shutil.rmtree(temp, ignore_errors=True)
