"""S3Storage against a real SeaweedFS S3 server on loopback (tests/server_s3.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server_s3 import S3Server, free_ports, running_s3_server
from trainyard_runtime.storage import UnsafeKeyError, open_storage
from trainyard_runtime.storage.base import sha256_file
from trainyard_runtime.storage.s3 import MiB, S3Storage, S3StorageError


@pytest.fixture
def make_storage(s3_server: S3Server) -> Iterator[Any]:
    """S3Storage on the test server under a fresh prefix; closed after the test."""
    made: list[S3Storage] = []

    def make(prefix: str | None = None, bucket: str | None = None, **options: Any) -> S3Storage:
        environ = {**s3_server.env(), **options.pop("environ", {})}
        uri = f"s3://{bucket or s3_server.bucket}/{prefix or 'test-' + uuid.uuid4().hex[:8]}"
        storage = S3Storage.from_uri(uri, environ=environ, **options)
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()


@pytest.fixture
def storage(make_storage: Any) -> S3Storage:
    return make_storage()


def keys(storage: S3Storage, prefix: str = "") -> list[str]:
    return [info.key for info in storage.list_objects(prefix)]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_open_storage_reads_the_standard_aws_variables(s3_server, monkeypatch):
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    storage = open_storage(f"s3://{s3_server.bucket}/runs/")
    assert isinstance(storage, S3Storage)
    try:
        assert storage.root_uri == f"s3://{s3_server.bucket}/runs"
        assert storage.endpoint_url == s3_server.endpoint and storage.region == s3_server.region
        assert keys(storage, "no-such-thing/") == []  # authenticated: the server answered
    finally:
        storage.close()


def test_put_get_list_delete_round_trip(tmp_path, storage, s3_server):
    best = write(tmp_path / "best.pt", os.urandom(300_000))
    last = write(tmp_path / "last.pt", b"last" * 1000)
    stored = storage.put_file(best, "ckpt/job-1/best.pt")
    storage.put_file(last, "ckpt/job-1/last.pt")
    assert stored.size == 300_000 and stored.sha256 == sha256_file(best)
    assert stored.uri == f"{storage.root_uri}/ckpt/job-1/best.pt"
    assert storage.key_for(stored.uri) == "ckpt/job-1/best.pt"

    assert keys(storage, "ckpt/") == ["ckpt/job-1/best.pt", "ckpt/job-1/last.pt"]
    infos = {info.key: info for info in storage.list_objects("ckpt/job-1/")}
    assert infos["ckpt/job-1/last.pt"].size == 4000
    assert infos["ckpt/job-1/last.pt"].etag == hashlib.md5(b"last" * 1000).hexdigest()
    assert storage.exists("ckpt/job-1/best.pt") and infos["ckpt/job-1/best.pt"].size == 300_000

    # The checksum survives as object metadata, visible to any S3 client.
    client = s3_server.client()
    try:
        head = client.head_object(Bucket=storage.bucket, Key=f"{storage.prefix}/ckpt/job-1/best.pt")
    finally:
        client.close()
    assert head["Metadata"]["sha256"] == stored.sha256

    copy = storage.get_file("ckpt/job-1/best.pt", tmp_path / "out" / "best.pt")
    assert copy.read_bytes() == best.read_bytes()
    assert [p.name for p in copy.parent.iterdir()] == ["best.pt"]  # no temporary left
    with storage.open_read("ckpt/job-1/last.pt") as body:
        assert body.read(4) == b"last" and len(body.read()) == 3996

    storage.delete("ckpt/job-1/best.pt")
    assert not storage.exists("ckpt/job-1/best.pt")
    assert keys(storage) == ["ckpt/job-1/last.pt"]
    with pytest.raises(FileNotFoundError, match=r"best\.pt"):
        storage.get_file("ckpt/job-1/best.pt", tmp_path / "gone.pt")
    assert not (tmp_path / "gone.pt").exists()
    with pytest.raises(FileNotFoundError):
        storage.open_read("ckpt/job-1/best.pt")


def test_multipart_upload_keeps_content_and_checksum(tmp_path, make_storage, s3_server):
    storage = make_storage(multipart_threshold=8 * MiB, multipart_chunksize=5 * MiB)
    source = write(tmp_path / "big.bin", os.urandom(20 * MiB + 123))
    stored = storage.put_file(source, "big.bin")
    assert stored.sha256 == sha256_file(source) and stored.size == 20 * MiB + 123

    client = s3_server.client()
    try:
        part = client.head_object(
            Bucket=storage.bucket, Key=f"{storage.prefix}/big.bin", PartNumber=1
        )
    finally:
        client.close()
    assert part["PartsCount"] == 5  # 4 parts of 5 MiB and a small last one: it was multipart

    copy = storage.get_file("big.bin", tmp_path / "copy.bin")
    assert sha256_file(copy) == stored.sha256


def test_presigned_url_downloads_with_plain_httpx(tmp_path, storage):
    data = os.urandom(50_000)
    storage.put_file(write(tmp_path / "f.bin", data), "shared/f.bin")
    url = storage.presigned_url("shared/f.bin", expires_seconds=60)
    assert url is not None
    with httpx.Client() as http:
        response = http.get(url)
        assert response.status_code == 200 and response.content == data
        # The signature covers the key: the same query string cannot fetch another object.
        forged = url.replace("shared/f.bin", "shared/g.bin")
        assert http.get(forged).status_code == 403
    with pytest.raises(ValueError, match="expires_seconds"):
        storage.presigned_url("shared/f.bin", expires_seconds=8 * 24 * 3600)


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "a/./b", ""])
def test_keys_that_could_escape_are_refused(tmp_path, storage, key):
    source = write(tmp_path / "f", b"x")
    for call in (
        lambda: storage.put_file(source, key),
        lambda: storage.get_file(key, tmp_path / "out"),
        lambda: storage.exists(key),
        lambda: storage.presigned_url(key),
        lambda: storage.delete(key),
    ):
        with pytest.raises(UnsafeKeyError):
            call()
    with pytest.raises(UnsafeKeyError):
        storage.key_for(f"{storage.root_uri}/{key}")


def test_uri_with_escaping_prefix_is_refused(s3_server):
    with pytest.raises(UnsafeKeyError):
        S3Storage.from_uri(f"s3://{s3_server.bucket}/a/../b", environ=s3_server.env())


def test_prefixes_in_one_bucket_are_isolated(tmp_path, make_storage):
    tag = uuid.uuid4().hex[:8]
    team_a, team_ab = make_storage(f"{tag}/team-a"), make_storage(f"{tag}/team-ab")
    source = write(tmp_path / "f", b"weights")
    team_a.put_file(source, "model.pt")
    team_ab.put_file(source, "other.pt")
    assert keys(team_a) == ["model.pt"]
    assert keys(team_ab) == ["other.pt"]
    assert not team_ab.exists("model.pt")
    with pytest.raises(UnsafeKeyError):
        team_ab.key_for(team_a.uri_for("model.pt"))
    team_ab.delete("model.pt")  # deletes nothing of team a
    assert team_a.exists("model.pt")


def test_missing_bucket_names_the_bucket(tmp_path, make_storage):
    storage = make_storage(bucket="no-such-bucket-here", max_attempts=1)
    source = write(tmp_path / "f", b"x")
    for call in (
        lambda: storage.put_file(source, "k"),
        lambda: storage.exists("k"),
        lambda: keys(storage),
        lambda: storage.get_file("k", tmp_path / "out"),
    ):
        with pytest.raises(S3StorageError, match="bucket 'no-such-bucket-here' does not exist"):
            call()


def test_bad_credentials_say_what_to_check(tmp_path, make_storage):
    storage = make_storage(environ={"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, max_attempts=1)
    with pytest.raises(S3StorageError, match=r"access denied.*AWS_SECRET_ACCESS_KEY"):
        storage.put_file(write(tmp_path / "f", b"x"), "k")


@pytest.fixture(params=["closed port", "silent server"])
def dead_endpoint(request) -> Iterator[str]:
    """An endpoint where nothing answers: a port nobody listens on, or one that accepts
    connections (the kernel does, from the backlog) and never replies."""
    if request.param == "closed port":
        yield f"http://127.0.0.1:{free_ports(1)[0]}"
        return
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_unreachable_endpoint_is_retried_then_reported(tmp_path, make_storage, dead_endpoint):
    storage = make_storage(
        environ={"AWS_ENDPOINT_URL": dead_endpoint},
        max_attempts=2,
        connect_timeout=0.5,
        read_timeout=0.5,
    )
    attempts: list[str] = []
    storage.client.meta.events.register("before-send.s3", lambda **kw: attempts.append("try"))
    started = time.monotonic()
    with pytest.raises(S3StorageError) as failure:
        storage.put_file(write(tmp_path / "f", b"x" * 1000), "ckpt/best.pt")
    elapsed = time.monotonic() - started
    assert len(attempts) == 2, "botocore should retry a transient failure"
    assert elapsed < 10, f"gave up only after {elapsed:.1f}s"
    message = str(failure.value)
    assert dead_endpoint in message and "AWS_ENDPOINT_URL" in message
    assert "ckpt/best.pt" in message


def test_unknown_scheme_lists_s3_too():
    with pytest.raises(ValueError, match=r"allowed: file://, s3://"):
        open_storage("gs://bucket/prefix")


def test_storage_recovers_when_the_server_restarts(tmp_path):
    """Its own server: killed (as in a crash) mid-way, then back on the same port and data."""
    with running_s3_server(tmp_path / "s3") as server:
        storage = S3Storage.from_uri(
            f"s3://{server.bucket}/runs", environ=server.env(), max_attempts=2
        )
        try:
            source = write(tmp_path / "f", b"epoch-1")
            storage.put_file(source, "last.pt")
            server.process.stop(signal.SIGKILL)
            with pytest.raises(S3StorageError, match="unreachable"):
                storage.put_file(source, "next.pt")
            server.restart()
            # ListBuckets answers before the volume server is back; under load GetObject may
            # still say InternalError for a moment. The same storage object must recover.
            assert _eventually(lambda: storage.get_file("last.pt", tmp_path / "back.pt"))
            assert (tmp_path / "back.pt").read_bytes() == b"epoch-1"
            storage.put_file(source, "next.pt")
            assert keys(storage) == ["last.pt", "next.pt"]
        finally:
            storage.close()


def _eventually(action, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except S3StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
