"""Pretrained weights through the three tiers, without training: the local cache, object
storage (local and the real S3 server), and a hub source served by a local hub server."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

import pytest

from tests.support.hub_server import HubServer
from trainyard_runtime.storage import open_storage
from trainyard_runtime.storage.layout import pretrained_key
from trainyard_runtime.training.errors import TrainingError
from trainyard_runtime.weights.hub import ANSWER_SECONDS, HubSource
from trainyard_runtime.weights.local_cache import WeightsCache
from trainyard_runtime.weights.manifest import MANIFEST_FILE, Manifest
from trainyard_runtime.weights.resolver import Tier, resolve_weights
from trainyard_runtime.weights.shared_store import SharedWeights
from trainyard_runtime.weights.source import SourceUnavailable

FRAMEWORK = "timm"
MODEL = "tiny-net"


class FolderSource:
    """A source that copies files from a folder, counting its fetches."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fetches = 0

    def describe(self) -> str:
        return f"file://{self.folder}"

    def fetch(self, dest: Path) -> None:
        self.fetches += 1
        if not self.folder.is_dir():
            raise SourceUnavailable(f"{self.folder} does not exist")
        for path in self.folder.iterdir():
            (dest / path.name).write_bytes(path.read_bytes())


@pytest.fixture
def weights_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights" * 1000)
    return folder


def resolve(tmp_path: Path, shared: SharedWeights | None, source, cache: str = "cache"):
    return resolve_weights(
        FRAMEWORK,
        MODEL,
        cache=WeightsCache(tmp_path / cache),
        shared=shared,
        source=source,
        scratch=tmp_path / "scratch",
    )


def test_the_source_fills_storage_then_storage_and_the_cache_serve(tmp_path, weights_dir):
    shared = SharedWeights(open_storage((tmp_path / "storage").as_uri()))
    source = FolderSource(weights_dir)
    first = resolve(tmp_path, shared, source)
    assert first.tier == Tier.SOURCE and source.fetches == 1
    assert first.published == shared.where(FRAMEWORK, MODEL)
    assert first.file().read_bytes() == (weights_dir / "model.safetensors").read_bytes()
    assert first.manifest.size == 7000 and first.manifest.source == source.describe()
    stored = shared.manifest(FRAMEWORK, MODEL)
    assert stored == first.manifest

    # Another machine: an empty cache, and the source gone.
    source.folder = tmp_path / "gone"
    second = resolve(tmp_path, shared, source, cache="other-cache")
    assert second.tier == Tier.STORAGE and second.manifest.sha256 == first.manifest.sha256
    assert second.tried == (f"cache: no entry at {tmp_path / 'other-cache' / 'timm' / MODEL}",)

    third = resolve(tmp_path, shared, source, cache="other-cache")
    assert third.tier == Tier.CACHE and third.path == second.path and source.fetches == 1


def test_a_corrupt_cache_entry_is_discarded_and_storage_serves(tmp_path, weights_dir):
    shared = SharedWeights(open_storage((tmp_path / "storage").as_uri()))
    first = resolve(tmp_path, shared, FolderSource(weights_dir))
    first.file().write_bytes(b"tampered" * 875)  # same size, other content
    again = resolve(tmp_path, shared, FolderSource(tmp_path / "gone"))
    assert again.tier == Tier.STORAGE
    assert "discarded the copy" in again.tried[0] and "sha256" in again.tried[0]
    assert again.file().read_bytes() == b"weights" * 1000


def test_a_corrupt_storage_copy_is_discarded_and_the_source_serves(tmp_path, weights_dir):
    storage = open_storage((tmp_path / "storage").as_uri())
    shared = SharedWeights(storage)
    resolve(tmp_path, shared, FolderSource(weights_dir))
    key = pretrained_key(FRAMEWORK, MODEL, "model.safetensors")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"x" * 7000)
    storage.put_file(bad, key)
    source = FolderSource(weights_dir)
    got = resolve(tmp_path, shared, source, cache="fresh-cache")
    assert got.tier == Tier.SOURCE and source.fetches == 1
    assert any("discarded the copy" in note for note in got.tried)
    assert got.file().read_bytes() == b"weights" * 1000
    # The source's copy replaced the corrupt one in storage.
    assert resolve(tmp_path, shared, None, cache="third-cache").tier == Tier.STORAGE


def test_no_tier_can_serve_fails_naming_each_tier(tmp_path):
    shared = SharedWeights(open_storage((tmp_path / "storage").as_uri()))
    with pytest.raises(TrainingError) as failed:
        resolve(tmp_path, shared, FolderSource(tmp_path / "gone"))
    assert failed.value.reason == "pretrained_unavailable"
    message = str(failed.value)
    assert "1) cache: no entry" in message and "2) storage: no copy at" in message
    assert "3) source:" in message and "does not exist" in message
    with pytest.raises(TrainingError) as no_source:
        resolve(tmp_path, shared, None)
    assert "publishes no weights" in str(no_source.value)


def test_concurrent_runs_fetch_the_source_once(tmp_path, weights_dir):
    shared = SharedWeights(open_storage((tmp_path / "storage").as_uri()))
    source = FolderSource(weights_dir)
    tiers: list[Tier] = []

    def run() -> None:
        tiers.append(resolve(tmp_path, shared, source).tier)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert source.fetches == 1 and sorted(tiers) == sorted([Tier.SOURCE] + [Tier.CACHE] * 3)


def test_a_manifest_lists_each_file_and_checks_a_folder(tmp_path, weights_dir):
    (weights_dir / "config.json").write_text("{}")
    manifest = Manifest.of_folder(weights_dir, "huggingface", "org/name", "here")
    assert [f.path for f in manifest.files] == ["config.json", "model.safetensors"]
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.problem(weights_dir) is None
    (weights_dir / "config.json").write_text("{ }")
    assert "config.json has 3 bytes" in (manifest.problem(weights_dir) or "")


def test_tier_two_on_the_s3_server(tmp_path, weights_dir, s3_server, monkeypatch):
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    storage = open_storage(f"s3://{s3_server.bucket}/weights-{uuid.uuid4().hex[:8]}")
    shared = SharedWeights(storage)
    first = resolve(tmp_path, shared, FolderSource(weights_dir))
    assert first.tier == Tier.SOURCE
    assert storage.exists(pretrained_key(FRAMEWORK, MODEL, MANIFEST_FILE))
    second = resolve(tmp_path, shared, FolderSource(tmp_path / "gone"), cache="node-2")
    assert second.tier == Tier.STORAGE and second.manifest == first.manifest
    # A corrupt object in S3 is discarded, never loaded.
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"y" * 7000)
    storage.put_file(bad, pretrained_key(FRAMEWORK, MODEL, "model.safetensors"))
    with pytest.raises(TrainingError) as failed:
        resolve(tmp_path, shared, None, cache="node-3")
    assert "discarded the copy" in str(failed.value)
    assert shared.manifest(FRAMEWORK, MODEL) is None


def test_the_hub_source_downloads_files_and_snapshots(tmp_path, weights_dir):
    (weights_dir / "config.json").write_text('{"a": 1}')
    (weights_dir / "README.md").write_text("not weights")
    hub = HubServer().start()
    try:
        hub.add_repo("org/tiny", weights_dir)
        one = tmp_path / "one"
        one.mkdir()
        HubSource("org/tiny", ("model.safetensors",), endpoint=hub.url, token="tok").fetch(one)
        assert sorted(p.name for p in one.iterdir()) == ["model.safetensors"]
        assert "Bearer tok" in hub.authorizations
        snap = tmp_path / "snap"
        snap.mkdir()
        HubSource("org/tiny", allow_patterns=("*.json", "*.safetensors"), endpoint=hub.url).fetch(
            snap
        )
        assert sorted(p.name for p in snap.iterdir()) == ["config.json", "model.safetensors"]
        assert (snap / "config.json").read_text() == '{"a": 1}'
        first = tmp_path / "first"
        first.mkdir()
        HubSource(
            "org/tiny", one_of=("pytorch_model.bin", "model.safetensors"), endpoint=hub.url
        ).fetch(first)
        assert sorted(p.name for p in first.iterdir()) == ["model.safetensors"]
        with pytest.raises(SourceUnavailable) as none_of:
            HubSource("org/tiny", one_of=("a.bin", "b.bin"), endpoint=hub.url).fetch(first)
        assert "none of these files" in str(none_of.value)
        with pytest.raises(SourceUnavailable) as missing:
            HubSource("org/absent", ("model.safetensors",), endpoint=hub.url).fetch(tmp_path)
        assert f"{hub.url}/org/absent" in str(missing.value)
    finally:
        hub.stop()


def test_a_hub_that_refuses_connections_fails_the_tier_without_retrying(tmp_path, caplog):
    hub = HubServer().start()
    down = hub.url
    hub.stop()  # nothing listens on its port any more: connections are refused
    caplog.set_level(logging.INFO, logger="huggingface_hub")
    sources = [
        HubSource("org/tiny", ("model.safetensors",), endpoint=down),
        HubSource("org/tiny", one_of=("pytorch_model.bin", "model.safetensors"), endpoint=down),
        HubSource("org/tiny", allow_patterns=("*.safetensors",), endpoint=down),
    ]
    for source in sources:
        with pytest.raises(SourceUnavailable) as failed:
            source.fetch(tmp_path)
        assert f"{down} is unreachable" in str(failed.value)
        assert "Connection refused" in str(failed.value)
    # huggingface_hub was never asked: none of its requests, retries or backoff waits.
    assert [r.getMessage() for r in caplog.records if "requesting" in r.getMessage()] == []
    with pytest.raises(TrainingError) as job:
        resolve(tmp_path, None, sources[0])
    assert job.value.reason == "pretrained_unavailable"
    assert f"3) source: {down}/org/tiny (model.safetensors): {down} is unreachable" in str(
        job.value
    )


def test_a_slow_hub_still_serves(tmp_path, weights_dir):
    hub = HubServer().start()
    hub.delay = ANSWER_SECONDS + 0.5  # each answer comes later than the reachability check waits
    try:
        hub.add_repo("org/tiny", weights_dir)
        HubSource("org/tiny", ("model.safetensors",), endpoint=hub.url).fetch(tmp_path)
    finally:
        hub.stop()
    assert (tmp_path / "model.safetensors").read_bytes() == b"weights" * 1000
    # The check, then huggingface_hub's metadata request and download: each once, no retry.
    file = "/org/tiny/resolve/main/model.safetensors"
    assert hub.requests == [("HEAD", "/"), ("HEAD", file), ("GET", file)]
