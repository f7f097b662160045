"""The imagefolder layout (`train/<class>/<image>`, `val/<class>/<image>`), checked once.

One list of image types for every part: the gateway's dataset validation, and each framework's
train.py before it loads anything. They are the types every framework here reads (torchvision's
ImageFolder, ultralytics and PIL all open them), so a dataset that passes trains anywhere.
Hidden files and folders (`.DS_Store`, `.ipynb_checkpoints/`) are no images and no classes.
"""

from __future__ import annotations

from pathlib import Path

from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.failures import FailureReason

IMAGE_SUFFIXES = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})
SPLITS = ("train", "val")


def _hidden(path: Path, below: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(below).parts)


def list_images(folder: Path) -> list[Path]:
    """Image files under a folder, sorted, hidden files and folders skipped."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not _hidden(p, folder)
    )


def class_folders(split_dir: Path) -> list[str]:
    """The class folder names of one split, sorted (as ImageFolder indexes them)."""
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _invalid(root: Path, message: str) -> TrainingError:
    return TrainingError(FailureReason.DATASET_INVALID, f"imagefolder dataset {root}: {message}")


def imagefolder_classes(root: Path) -> list[str]:
    """The class names, once train/ and val/ both hold images of the same (2 or more) classes;
    a TrainingError (dataset_invalid) naming the problem otherwise."""
    classes: dict[str, list[str]] = {}
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            raise _invalid(root, f"missing the {split}/ folder (expected {split}/<class>/<image>)")
        names = class_folders(folder)
        if not names:
            raise _invalid(
                root, f"{split}/ has no class folders (expected {split}/<class>/<image>)"
            )
        empty = [name for name in names if not list_images(folder / name)]
        if empty:
            raise _invalid(
                root,
                f"{split}/ class folders without images: {', '.join(empty[:10])} "
                f"(image types: {', '.join(sorted(IMAGE_SUFFIXES))})",
            )
        classes[split] = names
    train, val = classes["train"], classes["val"]
    if train != val:
        raise _invalid(
            root,
            f"train/ and val/ must have the same class folders: only in train: "
            f"{sorted(set(train) - set(val))}, only in val: {sorted(set(val) - set(train))}",
        )
    if len(train) < 2:
        raise _invalid(root, f"need at least 2 classes, found {train}")
    return train
