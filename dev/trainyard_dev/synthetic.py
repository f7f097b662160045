"""Small synthetic image datasets — coloured shapes on noise — for demos and tests.

Classification comes as ImageFolder (`train/<class>/*.png`, `val/<class>/*.png`); detection,
segmentation and pose as YOLO (`images/`, `labels/`, `data.yaml`). Generated in well under a
second for the sizes tests use, deterministic for a seed, and learnable: shapes differ by class.

    python -m trainyard_dev.synthetic classification /tmp/shapes
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLOURS = ((230, 60, 60), (60, 200, 80), (70, 110, 240))
# Shapes only a detection set asked for them has: classes the default sets never show, for a
# second task of the same domain (fine-tuning from a model trained on SHAPES).
OTHER_SHAPES = ("diamond", "cross")
OTHER_COLOURS = ((235, 200, 50), (200, 80, 220))
# Pose: the four corners of a square, clockwise from top-left; a mirror swaps 0<->1 and 2<->3.
POSE_KEYPOINTS = 4
POSE_FLIP_IDX = [1, 0, 3, 2]


def _canvas(rng: np.random.Generator, size: int) -> Image.Image:
    noise = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
    return Image.fromarray(noise, "RGB")


def _outline(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """The shape as a polygon (a circle as 24 points), used for drawing and for masks."""
    if shape == "circle":
        return [
            (cx + r * math.cos(2 * math.pi * i / 24), cy + r * math.sin(2 * math.pi * i / 24))
            for i in range(24)
        ]
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    if shape == "cross":  # a plus sign, arms a third of the width
        a = r / 3
        return [
            (cx - a, cy - r), (cx + a, cy - r), (cx + a, cy - a), (cx + r, cy - a),
            (cx + r, cy + a), (cx + a, cy + a), (cx + a, cy + r), (cx - a, cy + r),
            (cx - a, cy + a), (cx - r, cy + a), (cx - r, cy - a), (cx - a, cy - a),
        ]  # fmt: skip
    return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]


def _colour(shape: str) -> tuple[int, int, int]:
    if shape in SHAPES:
        return COLOURS[SHAPES.index(shape)]
    return OTHER_COLOURS[OTHER_SHAPES.index(shape)]


def _place(rng: np.random.Generator, size: int, taken: list[tuple[float, float, float]]):
    for _ in range(50):
        r = rng.uniform(size * 0.12, size * 0.22)
        cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
        if all(math.hypot(cx - x, cy - y) > r + rr + 2 for x, y, rr in taken):
            taken.append((cx, cy, r))
            return float(cx), float(cy), float(r)
    return None


def make_classification(
    root: Path, *, train_per_class: int = 12, val_per_class: int = 4, size: int = 32, seed: int = 0
) -> Path:
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for cls, shape in enumerate(SHAPES):
            folder = root / split / shape
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = _canvas(rng, size)
                r = rng.uniform(size * 0.25, size * 0.4)
                cx, cy = rng.uniform(r, size - r, size=2)
                ImageDraw.Draw(image).polygon(_outline(shape, cx, cy, r), fill=COLOURS[cls])
                image.save(folder / f"{shape}_{i:04d}.png")
    return root


def make_digits(
    root: Path,
    digits: tuple[int, ...] = (0, 1, 2, 3, 4),
    *,
    train_per_class: int = 30,
    val_per_class: int = 20,
    size: int = 32,
    seed: int = 0,
) -> Path:
    """scikit-learn's handwritten digits (8x8, real scans, shipped offline) as ImageFolder.

    Only `digits` are taken, so two calls with disjoint digits make two data sets of one
    domain with different classes (how fine-tuning is tried). Images are upscaled to `size`.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng(seed)
    for digit in digits:
        rows = np.flatnonzero(data.target == digit)
        rng.shuffle(rows)
        picked = {"train": rows[:train_per_class], "val": rows[train_per_class:][:val_per_class]}
        for split, chosen in picked.items():
            folder = root / split / f"digit{digit}"
            folder.mkdir(parents=True, exist_ok=True)
            for row in chosen:
                pixels = (data.images[row] * (255 / 16)).astype(np.uint8)
                image = Image.fromarray(pixels, "L").resize((size, size), Image.Resampling.BILINEAR)
                image.save(folder / f"{row:04d}.png")
    return root


def _yolo_label(task: str, cls: int, shape: str, cx: float, cy: float, r: float, size: int):
    box = [cx / size, cy / size, 2 * r / size, 2 * r / size]
    if task == "detection":
        values: list[float] = box
    elif task == "segmentation":
        values = [c / size for point in _outline(shape, cx, cy, r) for c in point]
    else:  # pose: box, then (x, y, visibility) per corner
        values = box + [
            v for (x, y) in _outline("square", cx, cy, r) for v in (x / size, y / size, 2)
        ]
    return f"{cls} " + " ".join(f"{v:.6f}" for v in values)


def make_yolo(
    root: Path,
    task: str = "detection",
    *,
    train_images: int = 16,
    val_images: int = 6,
    size: int = 64,
    seed: int = 0,
    shapes: tuple[str, ...] = SHAPES,
) -> Path:
    """A YOLO data set whose classes are `shapes` (pose: squares only)."""
    if task not in ("detection", "segmentation", "pose"):
        raise ValueError(f"YOLO datasets are for detection, segmentation or pose, not {task!r}")
    unknown = set(shapes) - set(SHAPES + OTHER_SHAPES)
    if unknown:
        raise ValueError(f"unknown shapes {sorted(unknown)}: use {SHAPES + OTHER_SHAPES}")
    rng = np.random.default_rng(seed)
    names = ["square"] if task == "pose" else list(shapes)
    for split, count in (("train", train_images), ("val", val_images)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = _canvas(rng, size)
            draw = ImageDraw.Draw(image)
            lines: list[str] = []
            taken: list[tuple[float, float, float]] = []
            for _ in range(int(rng.integers(1, 4))):
                placed = _place(rng, size, taken)
                if placed is None:
                    continue
                cx, cy, r = placed
                cls = int(rng.integers(0, len(names)))
                shape = names[cls]
                draw.polygon(_outline(shape, cx, cy, r), fill=_colour(shape))
                lines.append(_yolo_label(task, cls, shape, cx, cy, r, size))
            image.save(root / "images" / split / f"{i:04d}.png")
            (root / "labels" / split / f"{i:04d}.txt").write_text("\n".join(lines) + "\n")
    data: dict = {
        "path": str(root.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(names)),
    }
    if task == "pose":
        data["kpt_shape"] = [POSE_KEYPOINTS, 3]
        data["flip_idx"] = POSE_FLIP_IDX
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=["classification", "detection", "segmentation", "pose"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=None, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.task == "classification":
        make_classification(args.out, size=args.size or 32, seed=args.seed)
    else:
        make_yolo(args.out, args.task, size=args.size or 64, seed=args.seed)
    print(args.out)


if __name__ == "__main__":
    main()
