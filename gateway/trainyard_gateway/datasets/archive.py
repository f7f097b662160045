"""Unpack an uploaded dataset zip safely: no paths out of the folder, no links, no zip bombs."""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from trainyard_gateway.datasets.validation import detect_format
from trainyard_runtime.storage.base import UnsafeKeyError, check_key

# Files archivers add that are no part of a dataset.
JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$)")
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(Exception):
    """A zip refused: `status` 413 for sizes and counts, 422 for unsafe or broken content."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int
    max_bytes: int  # uncompressed, all files together


def _members(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    members: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    declared = 0
    for info in archive.infolist():
        name = info.filename
        if info.is_dir() or JUNK.search(name):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(422, f"zip entry {name!r} is a symbolic link; links are not allowed")
        if _DRIVE.match(name):
            raise ArchiveError(422, f"zip entry {name!r} has an absolute path; use relative paths")
        try:
            check_key(name)
        except UnsafeKeyError:
            raise ArchiveError(
                422,
                f"zip entry {name!r} is unsafe: entries must be relative paths without '..', "
                "'.', empty parts, a leading '/' or backslashes",
            ) from None
        if info.flag_bits & 0x1:
            raise ArchiveError(422, f"zip entry {name!r} is encrypted; upload an unencrypted zip")
        if name in seen:
            raise ArchiveError(422, f"zip entry {name!r} appears twice")
        seen.add(name)
        declared += info.file_size
        members.append(info)
        if len(members) > limits.max_files:
            raise ArchiveError(413, f"the zip has more than {limits.max_files} files (the limit)")
        if declared > limits.max_bytes:
            raise ArchiveError(
                413, f"the zip unpacks to more than {limits.max_bytes} bytes (the limit)"
            )
    if not members:
        raise ArchiveError(422, "the zip holds no files")
    return members


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one entry, counting real bytes: a forged header must not get past the limit."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as source, target.open("wb") as out:
        while block := source.read(1 << 20):
            written += len(block)
            if written > budget:
                raise ArchiveError(413, "the zip unpacks to more bytes than the limit allows")
            out.write(block)
    return written


def extract_dataset_zip(zip_path: Path, dest: Path, limits: ArchiveLimits) -> Path:
    """Unpack into `dest`; returns the dataset root (a single wrapping folder is stepped into)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            budget = limits.max_bytes
            for info in _members(archive, limits):
                budget -= _extract(archive, info, dest / info.filename, budget)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(422, f"not a readable zip file: {exc}") from None
    except NotImplementedError as exc:  # a compression method Python cannot read
        raise ArchiveError(422, f"unsupported zip content: {exc}") from None
    except ArchiveError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and detect_format(dest) is None:
        return entries[0]
    return dest
