"""The ImageFolder dataset a job trains on: layout checks, torch datasets and batching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason

# torchvision's ImageFolder extensions, repeated so the layout check needs no torch import.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _class_counts(split_dir: Path) -> dict[str, int]:
    return {
        d.name: sum(1 for f in d.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS)
        for d in sorted(split_dir.iterdir())
        if d.is_dir() and not d.name.startswith(".")
    }


def check_layout(root: Path) -> list[str]:
    """The class names (sorted, as ImageFolder indexes them); TrainingError naming the problem."""

    def invalid(message: str) -> TrainingError:
        return TrainingError(
            FailureReason.DATASET_INVALID, f"imagefolder dataset {root}: {message}"
        )

    counts = {}
    for split in ("train", "val"):
        split_dir = root / split
        if not split_dir.is_dir():
            raise invalid(
                f"missing the {split}/ folder (expected train/<class>/*.png, val/<class>/…)"
            )
        counts[split] = _class_counts(split_dir)
        empty = [name for name, n in counts[split].items() if n == 0]
        if empty:
            raise invalid(f"{split}/ class folders without images: {empty}")
    classes = sorted(counts["train"])
    if len(classes) < 2:
        raise invalid(f"train/ needs at least 2 class folders, found {classes}")
    if sorted(counts["val"]) != classes:
        missing = sorted(set(classes) - set(counts["val"]))
        extra = sorted(set(counts["val"]) - set(classes))
        raise invalid(f"val/ classes differ from train/: missing {missing}, extra {extra}")
    return classes


def _rgb(image: Any) -> Any:
    return image.convert("RGB")  # grey or RGBA files; a named function pickles for workers


def make_datasets(root: Path, image_size: int, mean: list[float], std: list[float]):
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [
            transforms.Lambda(_rgb),
            transforms.Resize((image_size, image_size)),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    return (
        datasets.ImageFolder(str(root / "train"), transform=transform),
        datasets.ImageFolder(str(root / "val"), transform=transform),
    )


class Collator:
    """(image, label) pairs -> the keyword arguments a transformers classifier takes."""

    def __init__(self, interpolate_pos_encoding: bool) -> None:
        self.interpolate = interpolate_pos_encoding

    def __call__(self, batch: list[tuple[Any, int]]) -> dict[str, Any]:
        import torch

        batch_dict: dict[str, Any] = {
            "pixel_values": torch.stack([image for image, _ in batch]),
            "labels": torch.tensor([label for _, label in batch], dtype=torch.long),
        }
        if self.interpolate:
            batch_dict["interpolate_pos_encoding"] = True
        return batch_dict
