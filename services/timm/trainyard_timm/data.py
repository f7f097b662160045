"""The ImageFolder dataset of a timm job: transforms and loaders.

In a distributed run each rank loads its share: `hyperparams.batch_size` is the global batch,
so a rank's batches hold `batch_size / world size` images; the training set is shuffled per
epoch by a DistributedSampler (the same seed on every rank, disjoint shares) and the
validation set is dealt out by index without padding, so that its counts, summed over the
ranks, are those of the whole set exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset
from torchvision import datasets, transforms

from trainyard_runtime.datasets.imagefolder import imagefolder_classes
from trainyard_wire.spec import JobSpec


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
    # The training shuffle of a distributed run (set_epoch each epoch); None in one process.
    sampler: DistributedSampler | None = None


def _rgb(path: str):
    # Grayscale, palette and RGBA images all become 3-channel input.
    return datasets.folder.default_loader(path).convert("RGB")


def build_loaders(
    root: Path,
    spec: JobSpec,
    mean,
    std,
    augment: bool,
    device: str,
    rank: int = 0,
    world_size: int = 1,
) -> Loaders:
    classes = imagefolder_classes(root)
    hp = spec.hyperparams
    train_tf, eval_tf = build_transforms(hp.image_size, mean, std, augment)
    train_set = datasets.ImageFolder(str(root / "train"), transform=train_tf, loader=_rgb)
    val_set = datasets.ImageFolder(str(root / "val"), transform=eval_tf, loader=_rgb)
    batch = max(1, hp.batch_size // world_size)  # the global batch, shared out
    common = {
        "batch_size": batch,
        "num_workers": hp.workers,
        "pin_memory": device == "cuda",
        "persistent_workers": hp.workers > 0,
    }
    generator = torch.Generator().manual_seed(hp.seed)  # same shuffles for the same seed
    if world_size > 1:
        sampler = DistributedSampler(
            train_set, num_replicas=world_size, rank=rank, shuffle=True, seed=hp.seed
        )
        share = Subset(val_set, range(rank, len(val_set), world_size))
        return Loaders(
            train=DataLoader(
                train_set,
                sampler=sampler,
                generator=generator,
                drop_last=len(sampler) > batch,
                **common,
            ),
            val=DataLoader(share, shuffle=False, **common),
            classes=classes,
            sampler=sampler,
        )
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
