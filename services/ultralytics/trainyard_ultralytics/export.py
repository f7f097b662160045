"""Export a trained YOLO model with ultralytics' own exporter and prove the file:
`python -m trainyard_ultralytics.export`.

Formats: the exporter's that need no GPU toolchain and that run here, ONNX (in onnxruntime)
and TorchScript. The comparison is of the raw head outputs: the PyTorch model's inference
answer (decoded boxes with class scores, plus mask prototypes for segmentation and keypoints for
pose; class probabilities for classification) against the exported file's, image by image, on
the job's validation images resized to the trained image size. A detector, segmenter or pose
model is then also validated with ultralytics' own validator, as the PyTorch checkpoint and as
the exported file, on the job's validation split: the mAP of each must agree.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from trainyard_runtime.datasets.imagefolder import IMAGE_SUFFIXES
from trainyard_runtime.export.job import Prepared
from trainyard_runtime.export.runners import flatten_outputs
from trainyard_runtime.training import TrainingContext, run_training
from trainyard_ultralytics.runtime import apply_offline_settings, prepare_offline
from trainyard_wire.spec import JobSpec


def validation_images(dataset_dir: Path, limit: int) -> list[Path]:
    """Images of the validation split (any folder named val*), else of the whole dataset."""
    images = sorted(
        p for p in dataset_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    val = [p for p in images if any(part.startswith("val") for part in p.parts)]
    return (val or images)[:limit]


def image_input(path: Path, size: int) -> np.ndarray:
    """An image as the model takes it: RGB, size x size, 0-1, (1, 3, H, W) float32."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB").resize((size, size))
    return np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0


def _reference(model: Any):
    import torch

    def run(image: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            out = model(torch.from_numpy(image))
        # Inference answers (what export writes, raw feature maps or logits beside it).
        return flatten_outputs(out[0] if isinstance(out, tuple) else out)

    return run


# What each task's exported model is validated as (ultralytics' names).
VALIDATED_TASKS = {"detection": "detect", "segmentation": "segment", "pose": "pose"}


def validated_map(weights: Path, task: str, data_yaml: Path, size: int) -> dict[str, float]:
    """mAP50 and mAP50-95 (boxes) of a checkpoint or an exported file on the validation split,
    one image at a time (an exported file takes a batch of one)."""
    from ultralytics import YOLO

    results = YOLO(str(weights), task=VALIDATED_TASKS[task]).val(
        data=str(data_yaml),
        imgsz=size,
        batch=1,
        device="cpu",
        plots=False,
        project=str(data_yaml.parent / "val"),
        name=weights.stem,
        exist_ok=True,
        verbose=False,
    )
    return {"mAP50": float(results.box.map50), "mAP50-95": float(results.box.map)}


def _task_metrics(checkpoint: Path, spec: JobSpec, dataset_dir: Path):
    """The PyTorch checkpoint's and the exported file's mAP on the job's validation split."""
    if spec.task not in VALIDATED_TASKS:
        return None
    from trainyard_runtime.training.datasets import yolo_data_file
    from trainyard_ultralytics.data import write_yolo_yaml

    named = yolo_data_file(spec.dataset.uri)
    data_yaml = write_yolo_yaml(dataset_dir, spec.task, checkpoint.parent / "data.yaml", named)
    size = spec.hyperparams.image_size

    def measure(exported: Path) -> tuple[dict[str, float], dict[str, float]]:
        reference = validated_map(checkpoint, spec.task, data_yaml, size)
        return reference, validated_map(exported, spec.task, data_yaml, size)

    return measure


def prepare(checkpoint: Path, spec: JobSpec, dataset_dir: Path, limit: int) -> Prepared:
    prepare_offline(checkpoint.parent / "ultralytics-config")
    apply_offline_settings()
    from ultralytics import YOLO

    size = spec.hyperparams.image_size
    model = YOLO(str(checkpoint)).model.float().eval()
    inputs = [image_input(path, size) for path in validation_images(dataset_dir, limit)]

    def export(fmt: str, path: Path) -> Path:
        # A model of its own: the exporter fuses and switches the head to export mode.
        written = YOLO(str(checkpoint)).export(
            format=fmt, imgsz=size, device="cpu", batch=1, dynamic=False, half=False
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(written), path)
        return path

    return Prepared(
        model=model,
        inputs=inputs,
        classification=spec.task == "classification",
        export=export,
        reference=_reference(model),
        notes={"compared": "raw head outputs", "image_size": size},
        task_metrics=_task_metrics(checkpoint, spec, dataset_dir),
    )


def export(ctx: TrainingContext) -> dict[str, float]:
    from trainyard_runtime.export.job import run_export

    return run_export(ctx, prepare)


if __name__ == "__main__":
    run_training(export)
