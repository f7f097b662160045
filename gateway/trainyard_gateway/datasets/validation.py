"""Tell a local dataset folder's format and check it before anything trains on it.

    report = validate_dataset(Path("/tmp/shapes"))
    report.format, report.classes, report.images, report.problems

Formats: `imagefolder` (`train/<class>/<image>`, `val/<class>/<image>`), `yolo` (`data.yaml`,
`images/<split>/`, `labels/<split>/`), `coco` (`annotations/*.json` per split + images).
Every problem names the files it is about, relative to the dataset root.
"""

from __future__ import annotations

from pathlib import Path

from trainyard_gateway.datasets.coco_check import annotation_files, check_coco
from trainyard_gateway.datasets.report import DatasetReport, check_images
from trainyard_gateway.datasets.yolo_check import check_yolo, data_file
from trainyard_runtime.datasets.imagefolder import SPLITS, class_folders, list_images

FORMAT_HINT = (
    "imagefolder (train/<class>/<image>, val/<class>/<image>), yolo (data.yaml, images/<split>/, "
    "labels/<split>/) or coco (annotations/instances_<split>.json with the images)"
)


def detect_format(root: Path) -> str | None:
    """The format a folder looks like, from its top level only; None when none fits."""
    if data_file(root) is not None:
        return "yolo"
    if annotation_files(root):
        return "coco"
    if (root / "train").is_dir() and any(p.is_dir() for p in (root / "train").iterdir()):
        return "imagefolder"
    return None


def _check_imagefolder(report: DatasetReport) -> None:
    root = report.root
    splits = [*SPLITS, *(["test"] if (root / "test").is_dir() else [])]
    classes: dict[str, list[str]] = {}
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            report.add("empty_split", folder, f"split {split!r}: {split}/ is missing")
            report.images[split] = 0
            continue
        names = class_folders(folder)
        loose = [p for p in folder.iterdir() if p.is_file() and p.name[0] != "."]
        if loose:
            report.add(
                "loose_files",
                loose[:5],
                f"{len(loose)} files directly in {split}/; images go in {split}/<class>/",
            )
        count = 0
        for name in names:
            images = list_images(folder / name)
            if not images:
                report.add("empty_class", folder / name, f"class folder {name!r} has no images")
            check_images(report, images)
            count += len(images)
        report.images[split] = count
        if not count:
            report.add("empty_split", folder, f"split {split!r} has no images in class folders")
        classes[split] = names
    train = classes.get("train", [])
    report.classes = train
    for split, names in classes.items():
        if split != "train" and names != train and train:
            only_train = sorted(set(train) - set(names))
            only_here = sorted(set(names) - set(train))
            report.add(
                "class_names",
                [root / "train", root / split],
                f"train/ and {split}/ name different classes: only in train: {only_train}, "
                f"only in {split}: {only_here}",
            )
    if train and len(train) < 2:
        report.add("class_names", root / "train", f"need at least 2 classes, found {train}")


CHECKS = {"imagefolder": _check_imagefolder, "yolo": check_yolo, "coco": check_coco}


def validate_dataset(root: Path, expected_format: str | None = None) -> DatasetReport:
    """Check a dataset folder as `expected_format`, or as whatever format it looks like."""
    report = DatasetReport(root=root)
    if not root.is_dir():
        report.add("missing_folder", root, f"dataset folder {root} does not exist")
        return report
    detected = detect_format(root)
    report.format = expected_format or detected
    if report.format is None:
        top = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:20]
        report.add(
            "unknown_format",
            None,
            f"not a dataset format Trainyard knows; expected {FORMAT_HINT}; found {top}",
        )
        return report
    if report.format not in CHECKS:
        report.add("unknown_format", None, f"format {report.format!r} is not one of {list(CHECKS)}")
        return report
    if expected_format and detected and detected != expected_format:
        report.add(
            "format_mismatch",
            None,
            f"the dataset looks like {detected}, not {expected_format}",
        )
    CHECKS[report.format](report)
    return report
