"""Find the dataset a job names on this machine."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from trainyard_shared.spec import DatasetRef
from trainyard_shared.training.context import TrainingError

SUPPORTED_DATASET_URIS = "a local path or a file:// URI"


def local_dataset_path(uri: str) -> Path | None:
    """The local path a dataset URI names, or None when it is not a local one."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and ("/" in uri or uri.startswith(".")):
        return Path(uri)
    return None


def resolve_dataset(ref: DatasetRef) -> Path:
    path = local_dataset_path(ref.uri)
    if path is None:
        raise TrainingError(
            "dataset_unsupported",
            f"dataset uri {ref.uri!r} is not supported here (allowed: {SUPPORTED_DATASET_URIS})",
        )
    if not path.is_dir():
        raise TrainingError("dataset_not_found", f"dataset folder {path} does not exist")
    return path.resolve()
