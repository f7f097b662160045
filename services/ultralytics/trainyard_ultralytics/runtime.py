"""Keep ultralytics offline and self-contained, and find weights files already on this machine."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

WEIGHTS_DIR_ENV = "TRAINYARD_WEIGHTS_DIR"
# Fonts ultralytics fetches from its asset server when they are not in its config dir.
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
# Its integrations and telemetry; each would reach for the network or a tracking server.
OFFLINE_SETTINGS = {
    "sync": False,
    "mlflow": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
}


def _bundled_font() -> Path | None:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    font = Path(next(iter(spec.submodule_search_locations))) / "mpl-data/fonts/ttf/DejaVuSans.ttf"
    return font if font.is_file() else None


def prepare_offline(config_root: Path) -> None:
    """Set ultralytics' environment; must run before `import ultralytics`."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"  # never pip-install a missing extra mid-run
    os.environ["YOLO_CONFIG_DIR"] = str(config_root)  # settings per run, not in the user's home
    user_dir = config_root / "Ultralytics"
    user_dir.mkdir(parents=True, exist_ok=True)
    font = _bundled_font()
    for name in _FONT_NAMES:
        if font and not (user_dir / name).exists():
            shutil.copyfile(font, user_dir / name)


def apply_offline_settings() -> None:
    from ultralytics import settings

    settings.update(OFFLINE_SETTINGS)


def weights_candidates(model: str) -> list[Path]:
    """Where the `.pt` file for a model (`yolo11n.yaml` or `yolo11n.pt`) may lie, in order."""
    file = Path(model).with_suffix(".pt")
    places = [file if file.is_absolute() else Path.cwd() / file]
    if os.environ.get(WEIGHTS_DIR_ENV):
        places.append(Path(os.environ[WEIGHTS_DIR_ENV]) / file.name)
    places.append(Path.cwd() / "weights" / file.name)  # ultralytics' default weights_dir
    return list(dict.fromkeys(places))


def local_weights(model: str) -> Path | None:
    """A `.pt` file for the model already on this machine (the job's path, or one in
    $TRAINYARD_WEIGHTS_DIR or ./weights); None: take the weights through the tiers."""
    for place in weights_candidates(model):
        if place.is_file():
            return place.resolve()
    return None


def amp_setting(choice: str, device: str | int) -> bool | str:
    """ultralytics' `amp` value. Its fp16 check downloads yolo26n.pt, so bf16 is preferred."""
    if device == "cpu" or choice == "off":
        return False
    import torch

    if choice == "bf16" or (choice == "auto" and torch.cuda.is_bf16_supported()):
        return "bf16"
    from ultralytics.engine import trainer
    from ultralytics.utils import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "yolo26n.pt").is_file():
        # The check needs weights we may not download: trust fp16 instead of trying.
        trainer.check_amp = lambda _model: True
    return True
