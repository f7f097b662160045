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
