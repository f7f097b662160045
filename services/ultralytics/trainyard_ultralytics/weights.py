"""Pretrained YOLO weights through the weights tiers; tier 3 is Ultralytics' asset release.

A model's weights go by the stem of its config (`yolo11n` for `yolo11n.yaml` or `yolo11n.pt`)
and are the file `<stem>.pt`. The release is downloaded with Ultralytics' own `safe_download`
from ULTRALYTICS_ASSETS_URL (default: the release of Ultralytics' GitHub assets repository
its `attempt_download_asset` uses), so a cluster can point it at a mirror.
"""

from __future__ import annotations

import functools
import inspect
import tempfile
from pathlib import Path

from trainyard_runtime.training import TrainingContext
from trainyard_runtime.weights.source import SourceUnavailable
from trainyard_ultralytics.models import weights_name
from trainyard_ultralytics.runtime import prepare_offline
from trainyard_wire.spec import JobSpec

MIN_BYTES = 100_000  # what attempt_download_asset asks of a weights file


def _downloads():  # type: ignore[no-untyped-def]
    """ultralytics' download module, imported with ultralytics kept offline and local."""
    import os

    if "YOLO_CONFIG_DIR" not in os.environ:
        prepare_offline(Path(tempfile.gettempdir()) / "trainyard-ultralytics-config")
    from ultralytics.utils import downloads

    return downloads


def default_assets_url() -> str:
    downloads = _downloads()
    release = inspect.signature(downloads.attempt_download_asset).parameters["release"].default
    return f"https://github.com/{downloads.GITHUB_ASSETS_REPO}/releases/download/{release}"


@functools.cache
def published_files() -> frozenset[str]:
    """The weights files Ultralytics' asset release holds."""
    return frozenset(_downloads().GITHUB_ASSETS_NAMES)


def publishes(spec: JobSpec) -> bool:
    if spec.model.endswith(".pt") and Path(spec.model).expanduser().is_file():
        return True  # a local weights file, named as the model
    return f"{weights_name(spec.model)}.pt" in published_files()


class AssetSource:
    def __init__(self, filename: str, base_url: str | None) -> None:
        self.filename = filename
        self.base_url = (base_url or default_assets_url()).rstrip("/")

    def describe(self) -> str:
        return f"{self.base_url}/{self.filename}"

    def fetch(self, dest: Path) -> None:
        downloads = _downloads()
        try:
            got = downloads.safe_download(
                url=self.describe(),
                file=dest / self.filename,
                retry=1,
                min_bytes=MIN_BYTES,
                unzip=False,
                progress=False,
            )
        except Exception as exc:  # a connection error, an HTTP error, a short file
            raise SourceUnavailable(f"{self.describe()}: {type(exc).__name__}: {exc}") from exc
        if not Path(got).is_file():
            raise SourceUnavailable(f"{self.describe()}: nothing was downloaded")


def pretrained_file(ctx: TrainingContext) -> Path:
    """The job's `.pt` weights through the tiers."""
    name = weights_name(ctx.spec.model)
    filename = f"{name}.pt"
    source = (
        AssetSource(filename, ctx.weights_access.ultralytics_assets_url)
        if filename in published_files()
        else None
    )
    return ctx.pretrained_weights(name, source).file(filename)


def load_weights(folder: Path, model: str) -> None:
    """Load a folder of seeded weights as a run would: one `.pt` file YOLO reads."""
    from ultralytics import YOLO

    files = [p for p in folder.rglob("*.pt") if p.is_file()]
    if len(files) != 1:
        raise ValueError(f"ultralytics weights are one .pt file, got {len(files)}")
    YOLO(str(files[0]))
