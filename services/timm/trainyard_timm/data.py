"""The ImageFolder dataset of a timm job: layout checks, transforms and loaders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason
from trainyard_wire.spec import JobSpec

IMAGE_SUFFIXES = frozenset(datasets.folder.IMG_EXTENSIONS)
SPLITS = ("train", "val")


def _classes(split_dir: Path) -> list[str]:
    """Class folders of one split that hold at least one image."""
    if not split_dir.is_dir():
        raise TrainingError(
            FailureReason.DATASET_INVALID,
            f"imagefolder dataset needs a {split_dir.name}/ folder (missing: {split_dir})",
        )
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if not classes:
        raise TrainingError(
            FailureReason.DATASET_INVALID,
            f"{split_dir} has no class folders (expected {split_dir.name}/<class>/<image>)",
        )
    empty = [
        c
        for c in classes
        if not any(f.suffix.lower() in IMAGE_SUFFIXES for f in (split_dir / c).rglob("*"))
    ]
    if empty:
        raise TrainingError(
            FailureReason.DATASET_INVALID,
            f"class folders without images in {split_dir}: {', '.join(empty[:10])} "
            f"(image types: {', '.join(sorted(IMAGE_SUFFIXES))})",
        )
    return classes


def check_layout(root: Path) -> list[str]:
    """The class names, once train/ and val/ are both present and agree on them."""
    train, val = (_classes(root / split) for split in SPLITS)
    if train != val:
        only_train = sorted(set(train) - set(val))
        only_val = sorted(set(val) - set(train))
        raise TrainingError(
            FailureReason.DATASET_INVALID,
            f"train/ and val/ must have the same class folders: only in train: {only_train}, "
            f"only in val: {only_val}",
        )
    if len(train) < 2:
        raise TrainingError(
            FailureReason.DATASET_INVALID, f"need at least 2 classes, found {train}"
        )
    return train


def build_transforms(image_size: int, mean, std, augment: bool):
    normalize = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    if augment:
        # Mild: the task is to fit the user's data, not to run an ImageNet recipe.
        train_tf = [
            transforms.RandomResizedCrop(image_size, scale=(0.7, 1.0), antialias=True),
            transforms.RandomHorizontalFlip(),
        ]
    else:
        train_tf = [transforms.Resize((image_size, image_size), antialias=True)]
    eval_tf = [transforms.Resize((image_size, image_size), antialias=True)]
    return transforms.Compose(train_tf + normalize), transforms.Compose(eval_tf + normalize)


@dataclass
class Loaders:
    train: DataLoader
    val: DataLoader
    classes: list[str]


def _rgb(path: str):
    # Grayscale, palette and RGBA images all become 3-channel input.
    return datasets.folder.default_loader(path).convert("RGB")


def build_loaders(root: Path, spec: JobSpec, mean, std, augment: bool, device: str) -> Loaders:
    classes = check_layout(root)
    hp = spec.hyperparams
    train_tf, eval_tf = build_transforms(hp.image_size, mean, std, augment)
    train_set = datasets.ImageFolder(str(root / "train"), transform=train_tf, loader=_rgb)
    val_set = datasets.ImageFolder(str(root / "val"), transform=eval_tf, loader=_rgb)
    common = {
        "batch_size": hp.batch_size,
        "num_workers": hp.workers,
        "pin_memory": device == "cuda",
        "persistent_workers": hp.workers > 0,
    }
    generator = torch.Generator().manual_seed(hp.seed)  # same shuffles for the same seed
    return Loaders(
        # A last batch of one breaks BatchNorm on models whose features end at 1x1.
        train=DataLoader(
            train_set,
            shuffle=True,
            generator=generator,
            drop_last=len(train_set) > hp.batch_size,
            **common,
        ),
        val=DataLoader(val_set, shuffle=False, **common),
        classes=classes,
    )
