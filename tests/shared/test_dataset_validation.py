"""Format detection and dataset checks: good synthetic datasets pass, each breakage is named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from trainyard_dev.synthetic import SHAPES, make_classification, make_yolo
from trainyard_gateway.datasets.report import DatasetReport
from trainyard_gateway.datasets.validation import detect_format, validate_dataset


def imagefolder(tmp_path: Path) -> Path:
    return make_classification(tmp_path / "ds", train_per_class=3, val_per_class=2, size=16)


def yolo(tmp_path: Path, task: str = "detection") -> Path:
    return make_yolo(tmp_path / "ds", task, train_images=4, val_images=2, size=48)


def coco(tmp_path: Path) -> Path:
    """A small COCO dataset: annotations/instances_<split>.json and images/<split>/."""
    root = tmp_path / "coco"
    for split, count in (("train", 3), ("val", 2)):
        (root / "images" / split).mkdir(parents=True)
        images, annotations = [], []
        for i in range(count):
            Image.new("RGB", (40, 30), (i * 40, 90, 120)).save(root / "images" / split / f"{i}.png")
            images.append({"id": i, "file_name": f"{i}.png", "width": 40, "height": 30})
            annotations.append(
                {"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [2, 3, 20, 10]}
            )
        categories = [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": annotations, "categories": categories})
        )
    return root


def only(report: DatasetReport, kind: str):
    """The problems of one kind, after checking there are no others."""
    kinds = {p.kind for p in report.problems}
    assert kinds == {kind}, report.problems
    return [p for p in report.problems if p.kind == kind]


@pytest.mark.parametrize("task", ["detection", "segmentation", "pose"])
def test_good_yolo_datasets_pass_with_their_task(tmp_path, task):
    report = validate_dataset(yolo(tmp_path, task))
    assert report.ok, report.problems
    assert report.format == "yolo"
    assert report.images == {"train": 4, "val": 2}
    assert report.extra["task"] == task
    assert report.classes == (["square"] if task == "pose" else list(SHAPES))


def test_good_imagefolder_and_coco_pass(tmp_path):
    report = validate_dataset(imagefolder(tmp_path))
    assert report.ok, report.problems
    assert (report.format, report.classes) == ("imagefolder", sorted(SHAPES))
    assert report.images == {"train": 9, "val": 6}
    report = validate_dataset(coco(tmp_path))
    assert report.ok, report.problems
    assert (report.format, report.classes, report.images) == (
        "coco",
        ["circle", "square"],
        {"train": 3, "val": 2},
    )


def test_unknown_layout_says_what_is_expected(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hi")
    assert detect_format(tmp_path / "x") is None
    [problem] = only(validate_dataset(tmp_path / "x"), "unknown_format")
    assert "data.yaml" in problem.message and "notes.txt" in problem.message


def test_corrupt_and_truncated_images_are_named(tmp_path):
    root = imagefolder(tmp_path)
    garbage = root / "train" / "circle" / "circle_0000.png"
    garbage.write_bytes(b"not a png at all")
    truncated = root / "val" / "square" / "square_0001.png"
    truncated.write_bytes(truncated.read_bytes()[:60])
    problems = only(validate_dataset(root), "corrupt_image")
    assert sorted(p.files for p in problems) == [
        ("train/circle/circle_0000.png",),
        ("val/square/square_0001.png",),
    ]


def test_imagefolder_classes_that_disagree_between_train_and_val(tmp_path):
    root = imagefolder(tmp_path)
    (root / "val" / "circle").rename(root / "val" / "oval")
    [problem] = only(validate_dataset(root), "class_names")
    assert problem.files == ("train", "val")
    assert "only in train: ['circle']" in problem.message and "['oval']" in problem.message


def test_imagefolder_empty_split_and_empty_class(tmp_path):
    root = imagefolder(tmp_path)
    for image in (root / "val").rglob("*.png"):
        image.unlink()
    report = validate_dataset(root)
    assert {p.kind for p in report.problems} == {"empty_class", "empty_split"}
    assert ("val",) in [p.files for p in report.problems if p.kind == "empty_split"]
    assert report.images["val"] == 0


def test_yolo_image_without_label_file(tmp_path):
    root = yolo(tmp_path)
    (root / "labels" / "train" / "0002.txt").unlink()
    [problem] = only(validate_dataset(root), "missing_label")
    assert problem.files == ("images/train/0002.png", "labels/train/0002.txt")


def _rewrite_label(root: Path, name: str, line: str) -> str:
    path = root / "labels" / "val" / name
    path.write_text(path.read_text() + line + "\n")
    return f"labels/val/{name}"


@pytest.mark.parametrize(
    ("task", "line", "kind", "words"),
    [
        ("detection", "7 0.5 0.5 0.1 0.1", "class_out_of_range", "class id 7 is out of range"),
        ("detection", "1 0.5 1.4 0.1 0.1", "coordinates_out_of_range", "1.4 is outside [0, 1]"),
        ("detection", "1 0.5 0.5 0.1", "wrong_columns", "4 values; detection rows have 5"),
        ("detection", "1 0.5 abc 0.1 0.1", "bad_number", "not all values are numbers"),
        ("pose", "0 0.5 0.5 0.2 0.2 0.1 0.1 2", "wrong_columns", "pose rows with kpt_shape [4, 3]"),
        ("segmentation", "0 0.1 0.1 0.2 0.2 0.3", "wrong_columns", "6 values"),
    ],
)
def test_yolo_bad_label_rows_name_file_and_line(tmp_path, task, line, kind, words):
    root = yolo(tmp_path, task)
    label = _rewrite_label(root, "0001.txt", line)
    [problem] = only(validate_dataset(root), kind)
    assert problem.files == (label,)
    assert problem.message.startswith("line ") and words in problem.message


def test_yolo_boxes_mixed_with_polygons(tmp_path):
    root = yolo(tmp_path, "segmentation")
    label = _rewrite_label(root, "0000.txt", "0 0.5 0.5 0.1 0.1")
    [problem] = only(validate_dataset(root), "mixed_labels")
    assert label in problem.files and "mix boxes (1 rows)" in problem.message


def test_yolo_without_names_and_with_an_empty_split(tmp_path):
    root = yolo(tmp_path)
    data = yaml.safe_load((root / "data.yaml").read_text())
    del data["names"]
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    shutil.rmtree(root / "images" / "val")
    report = validate_dataset(root)
    problems = {p.kind: p for p in report.problems}
    assert set(problems) == {"class_names", "empty_split"}
    assert problems["class_names"].files == ("data.yaml",)
    assert problems["empty_split"].files == ("images/val",)
    assert "is missing" in problems["empty_split"].message


def test_coco_categories_disagree_and_images_missing(tmp_path):
    root = coco(tmp_path)
    val = root / "annotations" / "instances_val.json"
    data = json.loads(val.read_text())
    data["categories"][1]["name"] = "triangle"
    data["annotations"][0]["category_id"] = 9
    val.write_text(json.dumps(data))
    (root / "images" / "train" / "1.png").unlink()
    report = validate_dataset(root)
    problems = {p.kind: p for p in report.problems}
    assert set(problems) == {"class_names", "missing_image", "unknown_category"}
    assert problems["class_names"].files == (
        "annotations/instances_train.json",
        "annotations/instances_val.json",
    )
    assert "triangle" in problems["class_names"].message
    assert problems["missing_image"].files == ("annotations/instances_train.json",)
    assert "1.png" in problems["missing_image"].message
    assert problems["unknown_category"].files == ("annotations/instances_val.json",)


def test_coco_without_a_val_split_and_with_bad_json(tmp_path):
    root = coco(tmp_path)
    (root / "annotations" / "instances_val.json").unlink()
    (root / "annotations" / "instances_train.json").write_text("{not json")
    report = validate_dataset(root)
    problems = {p.kind: p for p in report.problems}
    assert set(problems) == {"empty_split", "bad_json"}
    assert problems["empty_split"].files == ("annotations/instances_val.json",)
    assert problems["bad_json"].files == ("annotations/instances_train.json",)


def test_expected_format_that_does_not_fit(tmp_path):
    report = validate_dataset(imagefolder(tmp_path), expected_format="yolo")
    assert "format_mismatch" in {p.kind for p in report.problems}
    assert any("looks like imagefolder" in p.message for p in report.problems)
