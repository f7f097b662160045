"""Find the dataset a job names on this machine, fetching it from object storage when needed.

A local path or `file://` URI is used where it is; one naming a YOLO data file (`*.yaml`, as
Ultralytics users name data sets) stands for the folder that holds it, and the framework reads
the file itself (its `path:`, `train:`, `val:`). `s3://bucket/prefix` and a registered
dataset id (`ds-…`, stored under `datasets/<id>/` in the run's storage) are downloaded once
into the dataset cache (DATASET_CACHE_DIR, default `~/.cache/trainyard/datasets`) and reused
by later runs while their content is unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from trainyard_runtime.datasets.cache import (
    DatasetCache,
    DatasetNotFound,
    default_cache_dir,
)
from trainyard_runtime.storage import Storage, UnsafeKeyError, open_storage
from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.failures import FailureReason
from trainyard_wire.spec import DatasetRef

SUPPORTED_DATASET_URIS = (
    "a local path, a file:// URI, s3://bucket/prefix, or a registered dataset id (ds-…)"
)
DATASET_ID = re.compile(r"^ds-[A-Za-z0-9_-]{1,61}$")
REMOTE_SCHEMES = ("s3",)
# A local dataset URI ending so names a YOLO data file rather than a folder.
DATA_FILE_SUFFIXES = (".yaml", ".yml")

Location = Literal["local", "remote", "id"]


def local_dataset_path(uri: str) -> Path | None:
    """The local path a dataset URI names, or None when it is not a local one."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and ("/" in uri or uri.startswith(".")):
        return Path(uri)
    return None


def yolo_data_file(uri: str) -> Path | None:
    """The YOLO data file (`…/data.yaml`) a local dataset URI names, or None for a folder."""
    path = local_dataset_path(uri)
    if path is None or path.suffix.lower() not in DATA_FILE_SUFFIXES:
        return None
    return path


def local_dataset_problem(uri: str, dataset_format: str) -> str | None:
    """Why a local dataset URI cannot be trained from on this machine; None when it can (or
    when the URI is not a local one)."""
    path = local_dataset_path(uri)
    if path is None:
        return None
    if yolo_data_file(uri) is not None:
        if dataset_format != "yolo":
            return f"{path} is a YOLO data file; a {dataset_format} dataset is a folder"
        return None if path.is_file() else f"YOLO data file {path} does not exist"
    return None if path.is_dir() else f"dataset folder {path} does not exist"


def is_dataset_id(uri: str) -> bool:
    return DATASET_ID.match(uri) is not None


def dataset_location(uri: str) -> Location | None:
    """What kind of place a dataset URI names, or None when it is none Trainyard supports."""
    if is_dataset_id(uri):
        return "id"
    if local_dataset_path(uri) is not None:
        return "local"
    parsed = urlparse(uri)
    if parsed.scheme in REMOTE_SCHEMES and parsed.netloc:
        return "remote"
    return None


def dataset_prefix(dataset_id: str) -> str:
    """Where an uploaded dataset's files live in the platform's storage."""
    return f"datasets/{dataset_id}/"


def _fetch(storage: Storage, prefix: str, label: str, cache_dir: Path) -> Path:
    try:
        fetched = DatasetCache(cache_dir).fetch(storage, prefix)
    except DatasetNotFound as exc:
        raise TrainingError(FailureReason.DATASET_NOT_FOUND, f"dataset {label}: {exc}") from None
    except UnsafeKeyError as exc:
        raise TrainingError(FailureReason.DATASET_INVALID, f"dataset {label}: {exc}") from None
    how = "downloaded" if fetched.downloaded else "reused from the cache"
    print(
        f"[trainyard] dataset {label}: {fetched.files} files, {fetched.size_bytes} bytes, "
        f"{how} at {fetched.path}",
        flush=True,
    )
    return fetched.path


def resolve_dataset(
    ref: DatasetRef, run_storage: Storage | None = None, cache_dir: Path | None = None
) -> Path:
    """The local folder of the job's dataset. `run_storage` holds registered datasets (`ds-…`)."""
    location = dataset_location(ref.uri)
    cache_dir = cache_dir or default_cache_dir()
    if location == "id":
        if run_storage is None:
            raise TrainingError(
                FailureReason.DATASET_UNSUPPORTED,
                f"dataset {ref.uri} is a registered dataset id, but this run has no storage",
            )
        return _fetch(run_storage, dataset_prefix(ref.uri), ref.uri, cache_dir)
    if location == "remote":
        try:
            storage = open_storage(ref.uri.rstrip("/"))
        except ValueError as exc:
            raise TrainingError(
                FailureReason.DATASET_UNSUPPORTED, f"dataset {ref.uri}: {exc}"
            ) from None
        try:
            return _fetch(storage, "", ref.uri, cache_dir)
        finally:
            storage.close()
    path = local_dataset_path(ref.uri)
    if path is None:
        raise TrainingError(
            FailureReason.DATASET_UNSUPPORTED,
            f"dataset uri {ref.uri!r} is not supported here (allowed: {SUPPORTED_DATASET_URIS})",
        )
    problem = local_dataset_problem(ref.uri, ref.format)
    if problem is not None:
        raise TrainingError(FailureReason.DATASET_NOT_FOUND, problem)
    return (path.parent if yolo_data_file(ref.uri) else path).resolve()
