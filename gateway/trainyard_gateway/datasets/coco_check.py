"""Checks of a COCO dataset: `annotations/<split>.json` (or `instances_<split>.json`) + images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainyard_gateway.datasets.report import DatasetReport, check_images

REQUIRED_SPLITS = ("train", "val")
PREFIXES = ("instances_", "person_keypoints_")


def annotation_files(root: Path) -> dict[str, Path]:
    """Split name -> annotation file: `instances_train2017.json` is split `train2017`."""
    folder = root / "annotations"
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            split = path.stem
            for prefix in PREFIXES:
                split = split.removeprefix(prefix)
            found.setdefault(split, path)
    return found


def _split_kind(split: str) -> str | None:
    for kind in REQUIRED_SPLITS:
        if split.startswith(kind):
            return kind
    return None


def _image_path(root: Path, split: str, file_name: str) -> Path | None:
    """COCO file names are relative to some image folder; look where datasets usually put them."""
    candidates = [root / "images" / split, root / split, root / "images", root]
    for base in candidates:
        path = (base / file_name).resolve()
        if path.is_relative_to(root.resolve()) and path.is_file():
            return path
    return None


def _load(report: DatasetReport, path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.add("bad_json", path, f"not valid JSON: {exc}")
        return None
    missing = [
        k
        for k in ("images", "annotations", "categories")
        if not isinstance(data, dict) or not isinstance(data.get(k), list)
    ]
    if missing:
        report.add("bad_annotations", path, f"COCO annotations need lists {missing}")
        return None
    return data


def _check_split(report: DatasetReport, split: str, path: Path) -> list[str] | None:
    """Checks one annotation file and its images; returns its category names."""
    data = _load(report, path)
    if data is None:
        return None
    categories = {
        c.get("id"): str(c.get("name")) for c in data["categories"] if isinstance(c, dict)
    }
    images: dict[Any, dict[str, Any]] = {}
    paths: list[Path] = []
    missing: list[str] = []
    for entry in data["images"]:
        if not isinstance(entry, dict) or "id" not in entry or "file_name" not in entry:
            report.add("bad_annotations", path, f"image entry without id/file_name: {entry!r:.80}")
            continue
        images[entry["id"]] = entry
        found = _image_path(report.root, split, str(entry["file_name"]))
        if found is None:
            missing.append(str(entry["file_name"]))
        else:
            paths.append(found)
    report.images[split] = len(images)
    if not images:
        report.add("empty_split", path, f"split {split!r} lists no images")
    if missing:
        report.add(
            "missing_image",
            path,
            f"{len(missing)} images listed here are not in the dataset "
            f"(looked in images/{split}/, {split}/, images/): {', '.join(missing[:5])}",
        )
    check_images(report, paths)
    bad: dict[str, list[Any]] = {"category": [], "image": [], "bbox": []}
    for ann in data["annotations"]:
        if not isinstance(ann, dict):
            continue
        if ann.get("category_id") not in categories:
            bad["category"].append(ann.get("id"))
        image = images.get(ann.get("image_id"))
        if image is None:
            bad["image"].append(ann.get("id"))
        box = ann.get("bbox")
        if box is not None and not _box_fits(box, image):
            bad["bbox"].append(ann.get("id"))
    what = {
        "category": ("unknown_category", f"category_id not among categories {list(categories)}"),
        "image": ("unknown_image", "image_id not among the images"),
        "bbox": ("bad_bbox", "bbox is not [x, y, w, h] inside the image"),
    }
    for key, ids in bad.items():
        if ids:
            kind, message = what[key]
            report.add(kind, path, f"annotations {ids[:5]} ({len(ids)} in all): {message}")
    return [name for _, name in sorted(categories.items(), key=_by_id)]


def _by_id(item: tuple[Any, str]) -> tuple[int, int, str]:
    key = item[0]
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def _box_fits(box: Any, image: dict[str, Any] | None) -> bool:
    if not isinstance(box, list) or len(box) != 4:
        return False
    if not all(isinstance(v, int | float) for v in box):
        return False
    x, y, w, h = box
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        return False
    if (
        image
        and isinstance(image.get("width"), int | float)
        and isinstance(image.get("height"), int | float)
    ):
        return x + w <= image["width"] + 1 and y + h <= image["height"] + 1
    return True


def check_coco(report: DatasetReport) -> None:
    files = annotation_files(report.root)
    kinds = {_split_kind(s) for s in files}
    for kind in REQUIRED_SPLITS:
        if kind not in kinds:
            report.add(
                "empty_split",
                report.root / "annotations" / f"instances_{kind}.json",
                f"no annotation file for the {kind} split (found: {sorted(files) or 'none'})",
            )
    names: dict[str, list[str]] = {}
    for split, path in files.items():
        found = _check_split(report, split, path)
        if found is not None:
            names[split] = found
    distinct = {tuple(v) for v in names.values()}
    if len(distinct) > 1:
        report.add(
            "class_names",
            [files[s] for s in names],
            "splits disagree on categories: " + "; ".join(f"{s}: {v}" for s, v in names.items()),
        )
    if names:
        report.classes = next(iter(names.values()))
