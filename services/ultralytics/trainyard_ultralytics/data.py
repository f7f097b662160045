"""Check a YOLO dataset early, and point ultralytics at it wherever it lies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trainyard_runtime.datasets.imagefolder import list_images
from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason


def _invalid(message: str) -> TrainingError:
    return TrainingError(FailureReason.DATASET_INVALID, message)


def _read(source: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as exc:
        raise _invalid(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data.get("names"):
        raise _invalid(f"{source} has no class `names`")
    return data


def _split_path(base: Path, entry: str) -> Path:
    """Where ultralytics looks for a split: under `path`, or one `../` less when that fails."""
    found = (base / entry).resolve()
    if not found.exists() and entry.startswith("../"):
        found = (base / entry[3:]).resolve()
    return found


def _as_named(source: Path, task: str, out: Path) -> Path:
    """A data file the job names: its `path:` (absolute, or relative to the file's folder) or
    its folder is the root its `train:`/`val:` are relative to, as ultralytics reads them."""
    data = _read(source)
    given = data.get("path")
    base = (source.parent / given if given else source.parent).resolve()
    if not base.is_dir():
        raise _invalid(f"{source}: its dataset root {base} (path: {given!r}) does not exist")
    for split in ("train", "val"):
        entries = data.get(split)
        if not entries:
            raise _invalid(f"{source} has no `{split}:` (a folder of images or a list file)")
        for entry in [entries] if isinstance(entries, str) else entries:
            if not _split_path(base, str(entry)).exists():
                raise _invalid(f"{source}: {split} {entry!r} is not in {base}")
    if task == "pose" and not data.get("kpt_shape"):
        raise _invalid(f"{source} has no kpt_shape, which pose training needs")
    data = {k: v for k, v in data.items() if k != "download"}  # never download
    data["path"] = str(base)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def write_yolo_yaml(root: Path, task: str, out: Path, data_file: Path | None = None) -> Path:
    """Check a YOLO dataset and write its data.yaml for this run.

    A dataset folder is anchored at `root` (`images/<split>`, `labels/<split>`), whatever its
    data.yaml says of where it once was; a data file the job names (`data_file`) is read as
    ultralytics reads it.
    """
    if data_file is not None:
        return _as_named(data_file, task, out)
    source = root / "data.yaml"
    if not source.is_file():
        raise _invalid(f"YOLO dataset {root} has no data.yaml")
    data = _read(source)
    for split in ("train", "val"):
        if not list_images(root / "images" / split):
            raise _invalid(f"no images in {root / 'images' / split}")
        if not (root / "labels" / split).is_dir():
            raise _invalid(f"missing label folder {root / 'labels' / split}")
    if task == "pose" and not data.get("kpt_shape"):
        raise _invalid(f"{source} has no kpt_shape, which pose training needs")
    # The dataset may have moved (downloaded into a pod): anchor it here, never download.
    data = {k: v for k, v in data.items() if k not in ("path", "train", "val", "test", "download")}
    data.update(path=str(root), train="images/train", val="images/val")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out
