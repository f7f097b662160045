"""Checks of a YOLO dataset: data.yaml, `images/<split>/`, a label file per image, label rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from trainyard_gateway.datasets.report import DatasetReport, check_images
from trainyard_runtime.datasets.imagefolder import list_images

DATA_FILES = ("data.yaml", "data.yml")
REQUIRED_SPLITS = ("train", "val")
# Ultralytics normalises coordinates to [0, 1]; allow rounding in the last printed digit.
EPS = 1e-6


def data_file(root: Path) -> Path | None:
    return next((root / n for n in DATA_FILES if (root / n).is_file()), None)


def _names(report: DatasetReport, data: dict[str, Any], source: Path) -> list[str] | None:
    names = data.get("names")
    if isinstance(names, dict):
        keys = sorted(names, key=lambda k: int(k) if str(k).isdigit() else -1)
        if [str(k) for k in keys] != [str(i) for i in range(len(keys))]:
            report.add("class_names", source, f"`names` keys must be 0..{len(keys) - 1}: {keys}")
            return None
        return [str(names[k]) for k in keys]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    report.add("class_names", source, "data.yaml has no class `names` (a list, or {id: name})")
    return None


def _kpt_shape(report: DatasetReport, data: dict[str, Any], source: Path) -> tuple[int, int] | None:
    shape = data.get("kpt_shape")
    if shape is None:
        return None
    if (
        isinstance(shape, list)
        and len(shape) == 2
        and all(isinstance(v, int) for v in shape)
        and shape[0] > 0
        and shape[1] in (2, 3)
    ):
        return shape[0], shape[1]
    report.add("kpt_shape", source, f"kpt_shape must be [keypoints, 2 or 3], got {shape!r}")
    return None


class _LabelChecker:
    """Checks label rows against the class count and the task the columns imply."""

    def __init__(self, report: DatasetReport, classes: int | None, kpt: tuple[int, int] | None):
        self.report, self.classes, self.kpt = report, classes, kpt
        self.kinds: Counter[str] = Counter()  # "box" / "polygon" rows, to infer the task
        self.files_by_kind: dict[str, list[Path]] = {"box": [], "polygon": []}

    def _row(self, values: list[str]) -> tuple[str, str] | None:
        """(problem kind, message) for one row, or None when it is fine."""
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            return "bad_number", f"not all values are numbers: {' '.join(values)[:80]}"
        cls, coords = numbers[0], numbers[1:]
        if cls != int(cls) or cls < 0 or (self.classes is not None and cls >= self.classes):
            allowed = f"0-{self.classes - 1}" if self.classes else "integers from 0"
            return "class_out_of_range", f"class id {values[0]} is out of range ({allowed})"
        if self.kpt:
            k, d = self.kpt
            if len(values) != 5 + k * d:
                return "wrong_columns", (
                    f"{len(values)} values; pose rows with kpt_shape [{k}, {d}] have {5 + k * d} "
                    f"(class, x y w h, then {k} keypoints of {d})"
                )
            checked = coords[:4] + [c for i, c in enumerate(coords[4:]) if d == 2 or i % 3 != 2]
        elif len(values) == 5 or (len(values) >= 7 and len(values) % 2 == 1):
            self.kinds["box" if len(values) == 5 else "polygon"] += 1
            checked = coords
        else:
            return "wrong_columns", (
                f"{len(values)} values; detection rows have 5 (class x y w h), segmentation rows "
                "a class and at least 3 x y points (an odd count of 7 or more)"
            )
        if any(c < -EPS or c > 1 + EPS for c in checked):
            bad = next(c for c in checked if c < -EPS or c > 1 + EPS)
            return "coordinates_out_of_range", f"coordinate {bad:g} is outside [0, 1]"
        return None

    def check_file(self, label: Path) -> None:
        try:
            lines = label.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            self.report.add("unreadable_label", label, f"cannot read label file: {exc}")
            return
        found: dict[str, tuple[int, str, int]] = {}  # kind -> (first line, message, count)
        before = Counter(self.kinds)
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            problem = self._row(line.split())
            if problem:
                kind, message = problem
                first = found.get(kind, (number, message, 0))
                found[kind] = (first[0], first[1], first[2] + 1)
        for kind, (number, message, count) in found.items():
            more = f" (and {count - 1} more lines)" if count > 1 else ""
            self.report.add(kind, label, f"line {number}: {message}{more}")
        for kind in ("box", "polygon"):
            if self.kinds[kind] > before[kind] and len(self.files_by_kind[kind]) < 3:
                self.files_by_kind[kind].append(label)


def check_yolo(report: DatasetReport) -> None:
    root = report.root
    source = data_file(root)
    if source is None:
        report.add("missing_file", root / "data.yaml", "a YOLO dataset needs data.yaml")
        return
    try:
        data = yaml.safe_load(source.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        report.add("bad_yaml", source, f"not valid YAML: {exc}")
        return
    if not isinstance(data, dict):
        report.add("bad_yaml", source, "data.yaml must be a mapping (names, kpt_shape, …)")
        return
    names = _names(report, data, source)
    if names is not None:
        report.classes = names
        nc = data.get("nc")
        if nc is not None and nc != len(names):
            report.add("class_names", source, f"nc is {nc} but names lists {len(names)} classes")
    kpt = _kpt_shape(report, data, source)
    checker = _LabelChecker(report, len(names) if names else None, kpt)
    splits = [*REQUIRED_SPLITS, *(["test"] if (root / "images" / "test").is_dir() else [])]
    for split in splits:
        folder = root / "images" / split
        images = list_images(folder)
        report.images[split] = len(images)
        if not images:
            what = "has no images" if folder.is_dir() else "is missing"
            report.add("empty_split", folder, f"split {split!r}: images/{split}/ {what}")
            continue
        check_images(report, images)
        for image in images:
            label = (root / "labels" / split / image.relative_to(folder)).with_suffix(".txt")
            if label.is_file():
                checker.check_file(label)
            else:
                report.add(
                    "missing_label",
                    [image, label],
                    f"no label file for this image (expected {report.rel(label)}; "
                    "an image without objects needs an empty one)",
                )
    if checker.kinds["box"] and checker.kinds["polygon"]:
        report.add(
            "mixed_labels",
            checker.files_by_kind["box"] + checker.files_by_kind["polygon"],
            f"labels mix boxes ({checker.kinds['box']} rows) and polygons "
            f"({checker.kinds['polygon']} rows); use one kind for the whole dataset",
        )
    task = "pose" if kpt else "segmentation" if checker.kinds["polygon"] else "detection"
    report.extra["task"] = task
    if kpt:
        report.extra["kpt_shape"] = list(kpt)
