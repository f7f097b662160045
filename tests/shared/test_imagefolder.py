"""The imagefolder layout check every framework's train.py runs before it loads anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainyard_runtime.datasets.imagefolder import imagefolder_classes, list_images
from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason


def make(root: Path, layout: dict[str, list[str]]) -> Path:
    for split, classes in layout.items():
        for name in classes:
            (root / split / name).mkdir(parents=True)
            (root / split / name / "a.png").write_bytes(b"")
    return root


def test_the_classes_of_a_good_dataset(tmp_path: Path) -> None:
    root = make(tmp_path, {"train": ["cat", "dog"], "val": ["cat", "dog"]})
    (root / "train" / ".ipynb_checkpoints").mkdir()  # hidden: no class
    assert imagefolder_classes(root) == ["cat", "dog"]


@pytest.mark.parametrize(
    ("layout", "says"),
    [
        ({"train": ["cat", "dog"]}, "missing the val/ folder"),
        ({"train": ["cat", "dog"], "val": ["cat"]}, "only in train: ['dog']"),
        ({"train": ["cat"], "val": ["cat"]}, "need at least 2 classes"),
    ],
)
def test_a_bad_layout_says_what_is_wrong(tmp_path: Path, layout, says: str) -> None:
    with pytest.raises(TrainingError) as caught:
        imagefolder_classes(make(tmp_path, layout))
    assert caught.value.reason == FailureReason.DATASET_INVALID
    assert says in str(caught.value)


def test_a_class_without_images_is_named(tmp_path: Path) -> None:
    root = make(tmp_path, {"train": ["cat", "dog"], "val": ["cat", "dog"]})
    (root / "val" / "dog" / "a.png").rename(root / "val" / "dog" / "notes.txt")
    with pytest.raises(TrainingError, match="without images: dog"):
        imagefolder_classes(root)
    assert list_images(root / "val" / "cat") == [root / "val" / "cat" / "a.png"]
