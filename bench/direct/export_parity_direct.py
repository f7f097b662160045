"""Export trained checkpoints in every format and check each file as the export job does, in the
framework's environment: the framework's own `export.prepare` (model, validation images, its
exporter) and the runtime's `check_export` (the file run in its own runtime next to PyTorch).
For a YOLO detector, segmenter or pose model it also validates the ONNX file with ultralytics'
validator against the PyTorch checkpoint on the same data: the mAP each finds.

Prints one `BENCH` line per model and format.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from progress import PREFIX

from trainyard_runtime.export.job import check_export
from trainyard_runtime.export.runners import SUFFIXES
from trainyard_wire.spec import JobSpec


def yolo_map(weights: Path, spec: JobSpec, data_yaml: Path, out: Path) -> dict[str, float]:
    """mAP50 and mAP50-95 (boxes) of a checkpoint or an exported file on the validation split."""
    from ultralytics import YOLO

    kind = {"detection": "detect", "segmentation": "segment", "pose": "pose"}[spec.task]
    results = YOLO(str(weights), task=kind).val(
        data=str(data_yaml),
        imgsz=spec.hyperparams.image_size,
        batch=1,  # the exported file takes one image
        device="cpu",
        plots=False,
        project=str(out),
        name=weights.stem,
        exist_ok=True,
        verbose=False,
    )
    return {"mAP50": float(results.box.map50), "mAP50-95": float(results.box.map)}


def main(config_path: Path, out: Path) -> None:
    config = json.loads(config_path.read_text())
    framework = config["framework"]
    exporter = importlib.import_module(f"trainyard_{framework}.export")
    if framework == "ultralytics":
        from trainyard_ultralytics.runtime import apply_offline_settings, prepare_offline

        prepare_offline(out / "ultralytics-config")
        apply_offline_settings()
    for case in config["cases"]:
        checkpoint = Path(case["checkpoint"])
        folder = out / case["name"]
        for fmt in case["formats"]:
            spec = JobSpec.model_validate(
                {
                    **case["spec"],
                    "kind": "export",
                    "source": {"job_id": case["name"], "checkpoint": "best"},
                    "export": {"format": fmt, "max_images": config["max_images"]},
                }
            )
            assert spec.export is not None
            prepared = exporter.prepare(
                checkpoint, spec, Path(case["dataset"]), spec.export.max_images
            )
            exported = prepared.export_to(fmt, folder / f"model{SUFFIXES[fmt]}")
            report = check_export(prepared, exported, spec.export).as_dict()
            line: dict[str, Any] = {"name": case["name"], "format": fmt, "parity": report}
            if fmt == "onnx" and framework == "ultralytics" and spec.task != "classification":
                from trainyard_ultralytics.data import write_yolo_yaml

                data_yaml = write_yolo_yaml(Path(case["dataset"]), spec.task, folder / "data.yaml")
                line["map_pytorch"] = yolo_map(checkpoint, spec, data_yaml, folder / "val")
                line["map_exported"] = yolo_map(exported, spec, data_yaml, folder / "val")
            print(PREFIX + json.dumps(line), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
