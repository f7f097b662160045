"""Export parity, per framework, task and format: how far each exported file's answers are from
the PyTorch model it came from.

Tiny models train here from scratch (one epoch on synthetic shapes, `python -m
trainyard_<framework>.train` by hand, as a service would start it); each is exported in every
format its framework offers with the export job's own code (`export.prepare`, `check_export`:
the file run in onnxruntime or `torch.jit.load` next to PyTorch on the validation images). For
YOLO detection, segmentation and pose models the ONNX file is also validated by ultralytics'
own validator against the PyTorch checkpoint: the mAP of each. Not part of `make bench` (it
measures no time): `python -m bench.export_parity`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench import by_hand
from bench.direct_run import run_direct_script
from bench.report import REPO, Table, machine_header, progress
from bench.stack import framework_python, without_proxies
from trainyard_dev.synthetic import make_classification, make_yolo
from trainyard_runtime.storage.layout import checkpoint_key

NAME = "export-parity"
PROJECT = "bench"
MAX_IMAGES = 8  # validation images compared per export
TIMEOUT = 900
FORMATS = ["onnx", "torchscript"]
# (framework, task, model, image size)
CASES = (
    ("timm", "classification", "resnet18", 32),
    ("huggingface", "classification", "vit-tiny", 32),
    ("ultralytics", "detection", "yolo11n.yaml", 64),
    ("ultralytics", "segmentation", "yolo11n-seg.yaml", 64),
    ("ultralytics", "pose", "yolo11n-pose.yaml", 64),
    ("ultralytics", "classification", "yolo11n-cls.yaml", 32),
)


def dataset(work: Path, task: str, size: int) -> Path:
    if task == "classification":
        return make_classification(
            work / f"shapes-{size}", train_per_class=4, val_per_class=3, size=size
        )
    return make_yolo(work / f"yolo-{task}", task, train_images=8, val_images=MAX_IMAGES, size=size)


def training_spec(framework: str, task: str, model: str, size: int, data: Path) -> dict[str, Any]:
    return {
        "framework": framework,
        "task": task,
        "model": model,
        "dataset": {
            "uri": str(data),
            "format": "imagefolder" if task == "classification" else "yolo",
        },
        "hyperparams": {"epochs": 1, "batch_size": 8, "image_size": size, "seed": 0},
        "options": {"plots": False} if framework == "ultralytics" else {},
        "resources": {"gpu": 0},
        "project": PROJECT,
    }


def train(framework: str, run_dir: Path, spec: dict[str, Any], storage: Path) -> Path:
    """Train by hand in the framework's environment; the best checkpoint it stored."""
    env = by_hand.run_environment(run_dir, spec, storage)
    proc = subprocess.run(
        [str(framework_python(framework)), "-m", f"trainyard_{framework}.train"],
        cwd=run_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"training {run_dir.name} failed:\n{proc.stderr[-3000:]}")
    return storage / checkpoint_key(PROJECT, run_dir.name, "best.pt")


def run(work: Path) -> Table:
    storage = work / "storage"
    by_framework: dict[str, list[dict[str, Any]]] = {}
    for framework, task, model, size in CASES:
        name = f"{framework}-{task}"
        progress(f"training {name} ({model})")
        data = dataset(work / "data", task, size)
        spec = training_spec(framework, task, model, size, data)
        best = train(framework, work / name, spec, storage)
        by_framework.setdefault(framework, []).append(
            {
                "name": name,
                "model": model,
                "spec": spec,
                "checkpoint": str(best),
                "dataset": str(data),
                "formats": FORMATS,
            }
        )
    lines: list[dict[str, Any]] = []
    for framework, cases in by_framework.items():
        progress(f"exporting and checking the {framework} models")
        config = {"framework": framework, "cases": cases, "max_images": MAX_IMAGES}
        ran = run_direct_script(
            framework,
            config,
            work / f"check-{framework}",
            TIMEOUT,
            f"{framework} export checks",
            script="export_parity_direct.py",
        )
        lines += ran.reports
    return parity_table(lines, {c["name"]: c["model"] for cs in by_framework.values() for c in cs})


def figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def parity_table(lines: list[dict[str, Any]], models: dict[str, str]) -> Table:
    table = Table(
        "Export parity per framework, task and format",
        f"Each model trained here for one epoch, from scratch, on synthetic shapes, then exported "
        f"by the export job's own code and run in the exported format's runtime (onnxruntime, "
        f"`torch.jit.load`) next to the PyTorch model on {MAX_IMAGES} validation images (fewer "
        "where the split is smaller). Differences are of the outputs the export job compares: "
        "class probabilities for classifiers, the raw head outputs (boxes, class scores, mask "
        "coefficients, keypoints) for YOLO. mAP: ultralytics' validator on the validation split, "
        "PyTorch checkpoint / ONNX file.",
        [
            "framework / task (model)",
            "format",
            "images",
            "max abs diff",
            "mean abs diff",
            "top-1 agreement",
            "mAP50-95 PyTorch / ONNX",
            "passed",
        ],
    )
    for line in lines:
        parity = line["parity"]
        top1 = parity.get("top1_agreement")
        maps = "n/a"
        if "map_pytorch" in line:
            maps = f"{line['map_pytorch']['mAP50-95']:.4f} / {line['map_exported']['mAP50-95']:.4f}"
        table.add(
            f"{line['name'].replace('-', ' / ', 1)} ({models[line['name']]})",
            line["format"],
            parity["images"],
            figure(parity["max_abs_diff"]),
            figure(parity["mean_abs_diff"]),
            "n/a" if top1 is None else f"{top1:.3f}",
            maps,
            "yes" if parity["passed"] else "NO",
        )
    if lines:
        first = lines[0]["parity"]
        table.notes.append(
            f"Tolerance of the check (the export job's defaults): |diff| <= {first['atol']:g} + "
            f"{first['rtol']:g} x |PyTorch output| everywhere, and top-1 agreement of at least "
            f"{first['min_top1_agreement'] or 1:g} for classifiers."
        )
    table.notes.append(
        "One epoch from scratch leaves the YOLO models near mAP 0: the mAP columns show that the "
        "exported file scores what PyTorch scores on the same data, not that the model is good."
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="also write the table here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (models, logs)")
    args = parser.parse_args()
    without_proxies()
    (REPO / "bench" / ".work").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parity-", dir=REPO / "bench" / ".work"))
    text = machine_header("Trainyard export parity") + "\n" + run(work).markdown()
    print(text)
    if args.output:
        args.output.write_text(text)
    if not args.keep:  # kept after a failure, for its logs
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
