"""Datasets: check an uploaded zip or a registered location, store it, list it, delete it.

An upload is unpacked, validated and copied to `datasets/<id>/` in the gateway's storage; a
registered URI (`s3://bucket/prefix`, `file:///path`) stays where it is and is only checked.
Nothing is stored for a dataset with problems: the answer is 422 naming the files.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field
from sqlalchemy import select

from trainyard_gateway.datasets.archive import ArchiveError, ArchiveLimits, extract_dataset_zip
from trainyard_gateway.datasets.report import DatasetReport
from trainyard_gateway.datasets.validation import validate_dataset
from trainyard_gateway.db import ReadSession, WriteSession
from trainyard_gateway.deps import Gateway
from trainyard_gateway.errors import (
    DatasetInUse,
    DatasetNotFound,
    InvalidDataset,
    InvalidInput,
    TooLarge,
    Unavailable,
    error_for_status,
)
from trainyard_gateway.models import Dataset, Job, utcnow
from trainyard_gateway.settings import GatewaySettings
from trainyard_runtime.datasets.cache import (
    DatasetCache,
    DatasetTooLarge,
    content_key,
    list_dataset,
)
from trainyard_runtime.storage import ObjectInfo, Storage, open_storage
from trainyard_runtime.storage.base import sha256_file
from trainyard_runtime.storage.layout import dataset_key
from trainyard_runtime.training.datasets import (
    dataset_prefix,
    local_dataset_path,
)
from trainyard_wire.datasets import DatasetView
from trainyard_wire.spec import StrictModel
from trainyard_wire.states import NOT_ENDED

REGISTER_ALLOWED = ["s3://bucket/prefix", "file:///absolute/path"]


class RegisterDataset(StrictModel):
    uri: str = Field(
        min_length=1, max_length=2048, description="s3://bucket/prefix or file:///path"
    )
    name: str | None = Field(None, max_length=200)


def new_dataset_id() -> str:
    return f"ds-{uuid.uuid4().hex[:16]}"


def view(dataset: Dataset) -> DatasetView:
    return DatasetView.model_validate(dataset, from_attributes=True)


def _refuse_if_invalid(report: DatasetReport, where: str) -> None:
    if report.ok:
        return
    raise InvalidDataset(
        f"{where} is not a valid {report.format or 'dataset'}: {report.describe()}",
        [p.to_error() for p in report.problems],
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _upload_all(storage: Storage, root: Path, dataset_id: str) -> tuple[str, int]:
    """Copy every file to `datasets/<id>/…`; returns the content hash and the bytes stored."""
    digest, total, stored = hashlib.sha256(), 0, []
    try:
        for path in _files(root):
            relative = path.relative_to(root).as_posix()
            digest.update(f"{relative}\0{sha256_file(path)}\n".encode())
            total += path.stat().st_size
            key = dataset_key(dataset_id, relative)
            storage.put_file(path, key)
            stored.append(key)
    except BaseException:
        for key in stored:  # leave nothing of a dataset that was not recorded
            storage.delete(key)
        raise
    return digest.hexdigest(), total


def _insert(session: WriteSession, dataset: Dataset) -> DatasetView:
    session.add(dataset)
    session.flush()
    return view(dataset)


def create_from_zip(
    gateway: Gateway, zip_path: Path, name: str | None, workdir: Path
) -> DatasetView:
    """Unpack, validate and store an uploaded zip (blocking: call it in a worker thread)."""
    settings = gateway.settings
    limits = ArchiveLimits(settings.max_dataset_files, settings.max_dataset_bytes)
    try:
        root = extract_dataset_zip(zip_path, workdir / "unpacked", limits)
    except ArchiveError as exc:
        raise error_for_status(exc.status, exc.message) from None
    report = validate_dataset(root)
    _refuse_if_invalid(report, "the uploaded dataset")
    assert report.format is not None  # a valid report has one
    dataset_id = new_dataset_id()
    try:
        content_hash, size = _upload_all(gateway.storage, root, dataset_id)
    except Exception as exc:  # the storage backend's own errors (disk, S3)
        raise Unavailable(f"could not store the dataset: {exc}; try again") from exc
    summary = {**report.summary(), "files": len(_files(root))}
    dataset = Dataset(
        id=dataset_id,
        name=name,
        format=report.format,
        uri=gateway.storage.uri_for(dataset_prefix(dataset_id).rstrip("/")),
        source="upload",
        summary=summary,
        content_hash=content_hash,
        size_bytes=size,
        created_at=utcnow(),
    )
    try:
        with gateway.db.write() as session:
            return _insert(session, dataset)
    except BaseException:
        _delete_objects(gateway.storage, dataset_id)
        raise


def _local_root(uri: str) -> Path:
    path = local_dataset_path(uri)
    if path is None or not path.is_absolute() or not path.is_dir():
        raise InvalidInput(
            f"{uri!r} is not an existing folder on the gateway's machine",
            [{"field": "uri", "message": "no such folder", "allowed": REGISTER_ALLOWED}],
        )
    return path.resolve()


def _refuse_too_many_files(root: Path, limit: int) -> None:
    """Count a local folder's files, stopping early: `file:///` must not walk the whole disk."""
    for count, _ in enumerate((p for p in root.rglob("*") if p.is_file()), 1):
        if count > limit:
            raise TooLarge(f"{root} has more than {limit} files (MAX_DATASET_FILES)")


def _inspect(
    storage: Storage, uri: str, settings: GatewaySettings
) -> tuple[list[ObjectInfo], Path | None]:
    """The objects at `uri`, and a local copy to check unless it is a local folder already."""
    try:
        objects = list_dataset(storage)
    except Exception as exc:  # the backend's own errors: no bucket, no access, …
        raise InvalidInput(f"cannot list {uri!r}: {type(exc).__name__}: {exc}") from None
    if uri.startswith("file:"):
        return objects, None
    try:
        fetched = DatasetCache(settings.resolved_dataset_cache_dir()).fetch(
            storage, max_files=settings.max_dataset_files, max_bytes=settings.max_dataset_bytes
        )
    except DatasetTooLarge as exc:
        raise TooLarge(f"cannot register {uri!r}: {exc}") from None
    except LookupError as exc:
        raise InvalidInput(f"cannot register {uri!r}: {exc}") from None
    except Exception as exc:  # the backend's errors while downloading
        raise Unavailable(f"cannot fetch {uri!r} to check it: {exc}; try again") from None
    return objects, fetched.path


def register_uri(gateway: Gateway, request: RegisterDataset) -> DatasetView:
    """Check data already in storage and record it; its objects stay where they are."""
    settings = gateway.settings
    uri = request.uri.rstrip("/")
    if urlparse(uri).scheme == "":
        raise InvalidInput(
            f"{uri!r} is not a URI",
            [{"field": "uri", "message": "a URI is needed", "allowed": REGISTER_ALLOWED}],
        )
    local = _local_root(uri) if uri.startswith("file:") else None
    if local is not None:
        _refuse_too_many_files(local, settings.max_dataset_files)
        uri = local.as_uri()
    try:
        storage = open_storage(uri)
    except ValueError as exc:
        raise InvalidInput(
            f"cannot register {uri!r}: {exc}",
            [{"field": "uri", "message": str(exc), "allowed": REGISTER_ALLOWED}],
        ) from None
    try:
        objects, fetched = _inspect(storage, uri, settings)
    finally:
        storage.close()
    root = fetched or local
    assert root is not None  # a remote dataset was fetched, a local one is checked in place
    report = validate_dataset(root)
    _refuse_if_invalid(report, uri)
    assert report.format is not None
    dataset = Dataset(
        id=new_dataset_id(),
        name=request.name or uri.rsplit("/", 1)[-1],
        format=report.format,
        uri=uri,
        source="registered",
        summary={**report.summary(), "files": len(objects)},
        content_hash=content_key(objects),
        size_bytes=sum(o.size for o in objects),
        created_at=utcnow(),
    )
    with gateway.db.write() as session:
        return _insert(session, dataset)


def list_datasets(session: ReadSession, limit: int) -> list[DatasetView]:
    rows = session.scalars(
        select(Dataset).order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit)
    )
    return [view(d) for d in rows]


def get_dataset(session: ReadSession, dataset_id: str) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise DatasetNotFound(dataset_id)
    return dataset


def _delete_objects(storage: Storage, dataset_id: str) -> None:
    for obj in list_dataset(storage, dataset_prefix(dataset_id)):
        storage.delete(obj.key)


def delete_dataset(gateway: Gateway, dataset_id: str) -> None:
    """Refused while an unfinished job uses it; uploaded objects go, registered data stays."""
    with gateway.db.write() as session:
        dataset = session.get(Dataset, dataset_id, with_for_update=True)
        if dataset is None:
            raise DatasetNotFound(dataset_id)
        users = list(
            session.scalars(
                select(Job.id)
                .where(Job.dataset_id == dataset_id, Job.state.in_([s.value for s in NOT_ENDED]))
                .order_by(Job.created_at)
            )
        )
        if users:
            raise DatasetInUse(
                f"dataset {dataset_id} is used by unfinished jobs: {', '.join(users[:20])}; "
                "delete it after they end (or cancel them)",
                [{"field": "jobs", "message": "unfinished jobs use this dataset", "jobs": users}],
            )
        source = dataset.source
        session.delete(dataset)
    if source == "upload":
        try:
            _delete_objects(gateway.storage, dataset_id)
        except Exception as exc:  # the record is gone; say what is left behind
            raise Unavailable(
                f"dataset {dataset_id} was deleted but its files were not all removed: {exc}"
            ) from exc
