import pytest
import yaml
from PIL import Image

from trainyard_dev.synthetic import SHAPES, make_classification, make_yolo


def test_classification_is_an_imagefolder_with_both_splits(tmp_path):
    root = make_classification(tmp_path, train_per_class=3, val_per_class=2, size=24)
    for split, count in (("train", 3), ("val", 2)):
        assert sorted(p.name for p in (root / split).iterdir()) == sorted(SHAPES)
        for shape in SHAPES:
            images = list((root / split / shape).glob("*.png"))
            assert len(images) == count
            with Image.open(images[0]) as image:
                assert image.size == (24, 24)


@pytest.mark.parametrize(("task", "values"), [("detection", 4), ("pose", 4 + 4 * 3)])
def test_yolo_labels_are_in_range_and_match_the_task(tmp_path, task, values):
    root = make_yolo(tmp_path, task, train_images=4, val_images=2, size=48)
    data = yaml.safe_load((root / "data.yaml").read_text())
    classes = len(data["names"])
    labels = list((root / "labels" / "train").glob("*.txt"))
    assert len(labels) == 4
    for label in labels:
        for line in label.read_text().split("\n"):
            if not line:
                continue
            cls, *coords = line.split()
            assert 0 <= int(cls) < classes
            assert len(coords) == values
            assert all(0.0 <= float(c) <= 2.0 for c in coords)
    if task == "pose":
        assert data["kpt_shape"] == [4, 3]


def test_segmentation_labels_are_polygons(tmp_path):
    root = make_yolo(tmp_path, "segmentation", train_images=3, val_images=1)
    line = next(iter((root / "labels" / "train").glob("*.txt"))).read_text().split("\n")[0]
    coords = line.split()[1:]
    assert len(coords) >= 6 and len(coords) % 2 == 0


def test_same_seed_same_data(tmp_path):
    a = make_yolo(tmp_path / "a", "detection", train_images=2, val_images=1, seed=5)
    b = make_yolo(tmp_path / "b", "detection", train_images=2, val_images=1, seed=5)
    assert (a / "labels/train/0000.txt").read_text() == (b / "labels/train/0000.txt").read_text()


def test_detection_with_other_shapes_has_those_classes_only(tmp_path):
    root = make_yolo(tmp_path / "new", train_images=6, val_images=2, shapes=("diamond", "cross"))
    assert yaml.safe_load((root / "data.yaml").read_text())["names"] == {0: "diamond", 1: "cross"}
    classes = {
        line.split()[0]
        for label in (root / "labels" / "train").glob("*.txt")
        for line in label.read_text().splitlines()
        if line
    }
    assert classes == {"0", "1"}
    with pytest.raises(ValueError, match="unknown shapes"):
        make_yolo(tmp_path / "bad", shapes=("hexagon",))
