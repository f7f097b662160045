"""The ImageFolder dataset a job trains on: torch datasets and batching."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _rgb(image: Any) -> Any:
    return image.convert("RGB")  # grey or RGBA files; a named function pickles for workers


def eval_transform(image_size: int, mean: list[float], std: list[float]):
    """An image as the model takes it (training has no augmentation, so this is its transform)."""
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Lambda(_rgb),
            transforms.Resize((image_size, image_size)),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )


def make_datasets(root: Path, image_size: int, mean: list[float], std: list[float]):
    from torchvision import datasets

    transform = eval_transform(image_size, mean, std)
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
