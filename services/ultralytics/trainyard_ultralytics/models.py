"""The model configs that ship inside the ultralytics package, by Trainyard task.

Read from the package's cfg/models YAML files without importing ultralytics (no torch, no
settings file), so the service can list them cheaply at start.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import yaml

# Trainyard task -> ultralytics task.
ULTRALYTICS_TASKS = {
    "detection": "detect",
    "segmentation": "segment",
    "pose": "pose",
    "classification": "classify",
}

# The output module of a config's head tells its task (what ultralytics' guess_model_task does).
_HEAD_TASKS = {
    "Detect": "detection",
    "v10Detect": "detection",
    "Segment": "segmentation",
    "Segment26": "segmentation",
    "Pose": "pose",
    "Pose26": "pose",
    "Classify": "classification",
}
# Families that need their own trainer, extra assets (text encoders) or a download.
_EXCLUDED = re.compile(r"^(yoloe|rtdetr)|world|rtdetr")
SCALES = "nslmx"  # the letters ultralytics reads from a name (guess_model_scale)


def models_dir() -> Path:
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the ultralytics package is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations))) / "cfg" / "models"


def _names(stem: str, scales: list[str]) -> list[str]:
    """`yolo11-seg` with scales n..x -> `yolo11n-seg.yaml`…; `yolov10n` stays as it is."""
    match = re.match(r"^(.*?\d+)(.*)$", stem)
    usable = [s for s in scales if s in SCALES]
    if not match or not usable or re.match(rf"^[{SCALES}a-z]", match.group(2)):
        return [f"{stem}.yaml"]
    head, tail = match.groups()
    return [f"{head}{s}{tail}.yaml" for s in usable]


def _task_of(config: dict) -> str | None:
    modules = [layer[2] for layer in (config.get("backbone") or []) + (config.get("head") or [])]
    # TorchVision layers fetch ImageNet weights when built: not offline-safe.
    if not modules or "TorchVision" in modules:
        return None
    return _HEAD_TASKS.get(modules[-1])


@functools.cache
def catalog() -> dict[str, list[str]]:
    """Every accepted config name per Trainyard task, sorted (e.g. `yolo11n-seg.yaml`)."""
    found: dict[str, set[str]] = {task: set() for task in ULTRALYTICS_TASKS}
    for path in sorted(models_dir().glob("*/*.yaml")):
        if _EXCLUDED.search(path.stem):
            continue
        config = yaml.safe_load(path.read_text()) or {}
        task = _task_of(config)
        if task:
            found[task].update(_names(path.stem, list(config.get("scales") or {})))
    return {task: sorted(names) for task, names in found.items()}


def config_name(model: str) -> str:
    """The config a model name stands for: `yolo11n.pt` and `yolo11n.yaml` -> `yolo11n.yaml`."""
    return Path(model).with_suffix(".yaml").name if model.endswith(".pt") else model


def is_known(task: str, model: str) -> bool:
    """A shipped config name for the task, or a `.pt` file named after one."""
    if not model.endswith((".yaml", ".pt")):
        return False
    return config_name(model) in catalog().get(task, [])


def weights_name(model: str) -> str:
    """The name of a model's pretrained weights in the weights tiers: `yolo11n` for
    `yolo11n.yaml` and `yolo11n.pt` (its weights file is `yolo11n.pt`)."""
    return Path(config_name(model)).stem
