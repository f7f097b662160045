"""Check a job's dataset layout early, and point ultralytics at it wherever it lies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason

IMAGE_SUFFIXES = {".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"}


def _images(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]


def _invalid(message: str) -> TrainingError:
    return TrainingError(FailureReason.DATASET_INVALID, message)


def check_imagefolder(root: Path) -> int:
    """`train/<class>/*` and `val/<class>/*` with the same classes; returns the class count."""
    classes: dict[str, list[str]] = {}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            raise _invalid(f"imagefolder dataset {root} has no {split}/ folder")
        names = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if not names:
            raise _invalid(f"{folder} has no class folders (expected {split}/<class>/<image>)")
        empty = [n for n in names if not _images(folder / n)]
        if empty:
            raise _invalid(f"class folders without images in {folder}: {', '.join(empty)}")
        classes[split] = names
    if classes["train"] != classes["val"]:
        raise _invalid(
            f"train/ and val/ name different classes: {classes['train']} vs {classes['val']}"
        )
    if len(classes["train"]) < 2:
        raise _invalid("classification needs at least 2 class folders")
    return len(classes["train"])


def write_yolo_yaml(root: Path, task: str, out: Path) -> Path:
    """Check a YOLO dataset and write its data.yaml for this run, anchored at `root`."""
    source = root / "data.yaml"
    if not source.is_file():
        raise _invalid(f"YOLO dataset {root} has no data.yaml")
    try:
        data: dict[str, Any] = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as exc:
        raise _invalid(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data.get("names"):
        raise _invalid(f"{source} has no class `names`")
    for split in ("train", "val"):
        if not _images(root / "images" / split):
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
