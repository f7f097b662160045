"""Small datasets for tests: a tiny imagefolder on disk, and a folder as an upload zip."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from trainyard_dev.synthetic import make_classification


def tiny_dataset(root: Path) -> Path:
    return make_classification(root, train_per_class=2, val_per_class=1, size=16)


def zip_of(folder: Path, top: str | None = "shapes") -> bytes:
    """The folder as a zip, wrapped in one top folder like most zip tools do."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            archive.write(path, f"{top}/{relative}" if top else relative)
    return buffer.getvalue()
