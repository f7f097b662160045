"""Local dataset URIs: a folder or a YOLO data file, found where train.py runs, and the
service's check that refuses at submission what train.py would not find."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainyard_dev.synthetic import make_classification, make_yolo
from trainyard_runtime.training.datasets import resolve_dataset, yolo_data_file
from trainyard_runtime.training.errors import TrainingError
from trainyard_servicekit import FrameworkPlugin, TaskSupport
from trainyard_wire.spec import DatasetRef, JobSpec

PLUGIN = FrameworkPlugin(
    name="yolo-ish",
    default_port=8999,
    tasks=lambda: {
        "classification": TaskSupport(dataset_formats=["imagefolder"], models=["m"]),
        "detection": TaskSupport(dataset_formats=["yolo"], models=["m"]),
    },
)


def job(task: str, uri: str, dataset_format: str) -> JobSpec:
    return JobSpec.model_validate(
        {
            "framework": "yolo-ish",
            "task": task,
            "model": "m",
            "dataset": {"uri": uri, "format": dataset_format},
        }
    )


def problems(spec: JobSpec, datasets_here: bool = True) -> dict[str, dict]:
    return {p["field"]: p for p in PLUGIN.check(spec, PLUGIN.tasks(), datasets_here)}


def test_a_yolo_data_file_resolves_to_its_folder(tmp_path: Path) -> None:
    data = make_yolo(tmp_path / "shapes", "detection", train_images=1, val_images=1, size=16)
    for uri in (str(data / "data.yaml"), (data / "data.yaml").as_uri()):
        assert yolo_data_file(uri) == data / "data.yaml"
        assert resolve_dataset(DatasetRef(uri=uri, format="yolo")) == data.resolve()
    assert yolo_data_file(str(data)) is None
    assert resolve_dataset(DatasetRef(uri=str(data), format="yolo")) == data.resolve()
    with pytest.raises(TrainingError) as missing:
        resolve_dataset(DatasetRef(uri=str(data / "other.yaml"), format="yolo"))
    assert missing.value.reason == "dataset_not_found"
    assert "other.yaml does not exist" in str(missing.value)


def test_missing_local_datasets_are_refused_where_the_run_would_look(tmp_path: Path) -> None:
    shapes = make_classification(tmp_path / "shapes", train_per_class=1, val_per_class=1, size=8)
    assert problems(job("classification", str(shapes), "imagefolder")) == {}
    assert problems(job("classification", shapes.as_uri(), "imagefolder")) == {}
    for uri in (str(tmp_path / "nowhere"), (tmp_path / "nowhere").as_uri()):
        error = problems(job("classification", uri, "imagefolder"))["dataset.uri"]
        assert "does not exist on the yolo-ish service's machine" in error["message"]
        assert "a folder that exists there" in error["allowed"]
    # A Kubernetes pod has its own files: nothing to check here.
    assert problems(job("classification", str(tmp_path / "nowhere"), "imagefolder"), False) == {}
    # Not local: checked elsewhere (registered ids at the gateway, s3 by train.py).
    assert problems(job("classification", "s3://bucket/shapes", "imagefolder")) == {}

    data = make_yolo(tmp_path / "boxes", "detection", train_images=1, val_images=1, size=16)
    assert problems(job("detection", str(data / "data.yaml"), "yolo")) == {}
    missing = problems(job("detection", str(data / "boxes.yaml"), "yolo"))["dataset.uri"]
    assert "YOLO data file" in missing["message"] and "does not exist" in missing["message"]
    assert "*.yaml" in missing["allowed"][0]
    as_folders = problems(job("classification", str(data / "data.yaml"), "imagefolder"))
    assert "is a YOLO data file" in as_folders["dataset.uri"]["message"]


def test_a_format_no_task_trains_from_names_each_tasks_formats(tmp_path: Path) -> None:
    error = problems(job("detection", str(tmp_path), "coco"))["dataset.format"]
    assert error["allowed"] == ["yolo"]
    assert "does not train detection from coco" in error["message"]
    assert "classification: imagefolder; detection: yolo" in error["message"]
