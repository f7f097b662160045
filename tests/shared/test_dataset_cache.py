"""The dataset cache: fetch once from storage, reuse while unchanged, never keep a partial copy."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from trainyard_dev.synthetic import make_classification
from trainyard_runtime.datasets.cache import DatasetCache, DatasetNotFound, content_key
from trainyard_runtime.storage.layout import dataset_key
from trainyard_runtime.storage.local import LocalStorage
from trainyard_runtime.training.datasets import resolve_dataset
from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.spec import DatasetRef

DATASET_ID = "ds-0123456789abcdef"


class CountingStorage(LocalStorage):
    """Local storage that counts downloads and can fail or pause on one."""

    def __init__(self, root: Path, fail_at: int | None = None) -> None:
        super().__init__(root)
        self.downloads = 0
        self.fail_at = fail_at
        self.barrier: threading.Barrier | None = None
        self._lock = threading.Lock()

    def get_file(self, key: str, local: Path) -> Path:
        with self._lock:
            self.downloads += 1
            count = self.downloads
        if self.fail_at is not None and count == self.fail_at:
            raise OSError(f"storage went away at download {count}")
        if self.barrier is not None and count <= 2:
            self.barrier.wait(timeout=10)  # both fetches are mid-download before either ends
        return super().get_file(key, local)


@pytest.fixture
def storage(tmp_path) -> CountingStorage:
    """Storage holding one uploaded dataset under datasets/<id>/."""
    source = make_classification(tmp_path / "src", train_per_class=2, val_per_class=1, size=16)
    storage = CountingStorage(tmp_path / "storage")
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        storage.put_file(path, dataset_key(DATASET_ID, path.relative_to(source).as_posix()))
    return storage


def entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_fetch_downloads_once_and_reuses_unchanged_content(tmp_path, storage):
    cache = DatasetCache(tmp_path / "cache")
    first = cache.fetch(storage, f"datasets/{DATASET_ID}")
    assert first.downloaded and first.files == 9 == storage.downloads
    assert sorted(p.name for p in first.path.iterdir()) == ["train", "val"]
    assert len(list((first.path / "train" / "circle").glob("*.png"))) == 2

    again = cache.fetch(storage, f"datasets/{DATASET_ID}/")
    assert not again.downloaded and again.path == first.path
    assert storage.downloads == 9  # nothing downloaded the second time
    assert entries(tmp_path / "cache") == [first.key]


def test_changed_content_is_a_new_entry(tmp_path, storage):
    cache = DatasetCache(tmp_path / "cache")
    first = cache.fetch(storage, f"datasets/{DATASET_ID}/")
    extra = tmp_path / "extra.png"
    extra.write_bytes((first.path / "val" / "circle" / "circle_0000.png").read_bytes())
    storage.put_file(extra, dataset_key(DATASET_ID, "val/circle/extra.png"))
    second = cache.fetch(storage, f"datasets/{DATASET_ID}/")
    assert second.downloaded and second.key != first.key and second.files == 10
    key = content_key(storage.list_objects(f"datasets/{DATASET_ID}/"), f"datasets/{DATASET_ID}/")
    assert second.key == key


def test_a_failed_download_leaves_no_entry(tmp_path, storage):
    storage.fail_at = 5
    cache_dir = tmp_path / "cache"
    with pytest.raises(OSError, match="storage went away"):
        DatasetCache(cache_dir).fetch(storage, f"datasets/{DATASET_ID}/")
    assert entries(cache_dir) == []  # neither an entry nor a leftover temporary folder
    storage.fail_at = None
    fetched = DatasetCache(cache_dir).fetch(storage, f"datasets/{DATASET_ID}/")
    assert fetched.downloaded and entries(cache_dir) == [fetched.key]


def test_concurrent_fetches_of_the_same_dataset_share_one_entry(tmp_path, storage):
    storage.barrier = threading.Barrier(2)
    cache = DatasetCache(tmp_path / "cache")
    results = []

    def fetch() -> None:
        results.append(cache.fetch(storage, f"datasets/{DATASET_ID}/"))

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and all(r.downloaded for r in results)  # both really downloaded
    assert results[0].path == results[1].path
    assert entries(tmp_path / "cache") == [results[0].key]
    assert len([p for p in results[0].path.rglob("*.png")]) == 9


def test_missing_dataset_is_not_found(tmp_path, storage):
    with pytest.raises(DatasetNotFound, match="ds-ffffffffffffffff"):
        DatasetCache(tmp_path / "cache").fetch(storage, "datasets/ds-ffffffffffffffff/")


def test_resolve_dataset_fetches_a_registered_id_through_the_cache(tmp_path, storage, capsys):
    ref = DatasetRef(uri=DATASET_ID, format="imagefolder")
    path = resolve_dataset(ref, storage, cache_dir=tmp_path / "cache")
    assert path.parent == tmp_path / "cache" and (path / "train" / "square").is_dir()
    assert resolve_dataset(ref, storage, cache_dir=tmp_path / "cache") == path
    assert storage.downloads == 9
    out = capsys.readouterr().out
    assert "downloaded" in out and "reused from the cache" in out

    with pytest.raises(TrainingError) as missing:
        resolve_dataset(DatasetRef(uri="ds-nothere", format="imagefolder"), storage, tmp_path)
    assert missing.value.reason == "dataset_not_found"


def test_resolve_dataset_uses_local_paths_in_place(tmp_path):
    local = make_classification(tmp_path / "local", train_per_class=1, val_per_class=1, size=8)
    ref = DatasetRef(uri=local.as_uri(), format="imagefolder")
    assert resolve_dataset(ref, cache_dir=tmp_path / "cache") == local.resolve()
    assert not (tmp_path / "cache").exists()
    with pytest.raises(TrainingError) as unsupported:
        resolve_dataset(DatasetRef(uri="ftp://x/y", format="imagefolder"))
    assert unsupported.value.reason == "dataset_unsupported"


def test_resolve_dataset_fetches_s3_prefixes_once(tmp_path, s3_server, monkeypatch):
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    source = make_classification(tmp_path / "src", train_per_class=1, val_per_class=1, size=8)
    uri = f"s3://{s3_server.bucket}/datasets-test/{uuid.uuid4().hex[:8]}"
    client = s3_server.client()
    try:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            key = uri.split("/", 3)[3] + "/" + path.relative_to(source).as_posix()
            client.upload_file(str(path), s3_server.bucket, key)
    finally:
        client.close()
    ref = DatasetRef(uri=uri + "/", format="imagefolder")
    path = resolve_dataset(ref, cache_dir=tmp_path / "cache")
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*.png")) == sorted(
        p.relative_to(source).as_posix() for p in source.rglob("*.png")
    )
    mtime = path.stat().st_mtime_ns
    assert resolve_dataset(ref, cache_dir=tmp_path / "cache") == path
    assert path.stat().st_mtime_ns == mtime and entries(tmp_path / "cache") == [path.name]
