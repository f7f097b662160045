"""What a copy of pretrained weights holds: each file's sha256 and size, and where it came from.

Every tier keeps a `manifest.json` beside the weights. A copy is used only when each of its
files matches the manifest, so a truncated download or a corrupted object is never loaded: the
tier that holds it is skipped and the next one serves the weights.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainyard_runtime.storage.base import check_key, sha256_file

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "trainyard-weights/1"


class ManifestError(ValueError):
    """A manifest that cannot be read, or a copy that does not match its manifest."""


@dataclass(frozen=True)
class WeightsFile:
    path: str  # relative to the weights folder, `/`-separated
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    framework: str
    model: str
    source: str  # where the weights were first taken from (a hub URL, an upload…)
    files: tuple[WeightsFile, ...]

    @property
    def sha256(self) -> str:
        """The content's digest: the file's own sha256 for a single file (what `sha256sum`
        prints), else a digest of the sorted (path, sha256) list."""
        if len(self.files) == 1:
            return self.files[0].sha256
        digest = hashlib.sha256()
        for item in sorted(self.files, key=lambda f: f.path):
            digest.update(f"{item.path}\0{item.sha256}\n".encode())
        return digest.hexdigest()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def of_folder(cls, folder: Path, framework: str, model: str, source: str) -> Manifest:
        """The manifest of every file under `folder` (but a manifest already there)."""
        files = tuple(
            WeightsFile(p.relative_to(folder).as_posix(), sha256_file(p), p.stat().st_size)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST_FILE
        )
        if not files:
            raise ManifestError(f"{folder} holds no weights files")
        return cls(framework, model, source, files)

    def problem(self, folder: Path) -> str | None:
        """What differs between `folder` and this manifest; None when every file matches."""
        for item in self.files:
            path = folder / item.path
            if not path.is_file():
                return f"{item.path} is missing"
            size = path.stat().st_size
            if size != item.size:
                return f"{item.path} has {size} bytes, the manifest says {item.size}"
            actual = sha256_file(path)
            if actual != item.sha256:
                return f"{item.path} has sha256 {actual}, the manifest says {item.sha256}"
        return None

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "framework": self.framework,
                "model": self.model,
                "source": self.source,
                "sha256": self.sha256,
                "size": self.size,
                "files": [f.__dict__ for f in self.files],
            },
            indent=2,
        )

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST_FILE
        path.write_text(self.to_json())
        return path

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("format") != MANIFEST_FORMAT:
                raise ManifestError(
                    f"manifest format {data.get('format')!r} is not {MANIFEST_FORMAT}"
                )
            files = tuple(
                WeightsFile(check_key(str(f["path"])), str(f["sha256"]), int(f["size"]))
                for f in data["files"]
            )
            if not files:
                raise ManifestError("the manifest lists no files")
            return cls(str(data["framework"]), str(data["model"]), str(data["source"]), files)
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"unreadable manifest: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise ManifestError(f"{path} is missing")
        return cls.from_json(path.read_bytes())
