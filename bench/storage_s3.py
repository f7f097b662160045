"""S3Storage against boto3's own transfers, on a real SeaweedFS server on loopback.

Run: `.venv/bin/python -m bench.storage_s3 [--size-mb 200] [--runs 3]`. Prints a markdown table.
`make bench` runs it too, through `bench/storage.py`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.server_s3 import running_s3_server
from trainyard_runtime.storage.s3 import S3Storage


def side_by_side(
    ours: Callable[[], object], theirs: Callable[[], object], size: int, runs: int
) -> tuple[float, float]:
    """Median MB/s of each; runs alternate so that disk writeback and other noise hit both."""
    speeds: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for action, out in ((ours, speeds[0]), (theirs, speeds[1])):
            started = time.perf_counter()
            action()
            out.append(size / 1e6 / (time.perf_counter() - started))
    return statistics.median(speeds[0]), statistics.median(speeds[1])


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        for _ in range(size // (1 << 20)):
            fh.write(os.urandom(1 << 20))
        fh.write(os.urandom(size % (1 << 20)))


def measure(size_mb: int, runs: int) -> tuple[float, dict[str, tuple[float, float]]]:
    """Server start seconds, and per direction the median MB/s of (Trainyard, boto3)."""
    size = size_mb * (1 << 20)
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        work = Path(tmp)
        source = work / "payload.bin"
        make_file(source, size)
        with running_s3_server(work / "server", bucket="bench") as server:
            storage = S3Storage.from_uri("s3://bench/trainyard", environ=server.env())
            client = server.client()
            try:
                boto3_key = "boto3/payload.bin"
                rows = {
                    "upload": side_by_side(
                        lambda: storage.put_file(source, "payload.bin"),
                        lambda: client.upload_file(str(source), "bench", boto3_key),
                        size,
                        runs,
                    ),
                    "download": side_by_side(
                        lambda: storage.get_file("payload.bin", work / "a.bin"),
                        lambda: client.download_file("bench", boto3_key, str(work / "b.bin")),
                        size,
                        runs,
                    ),
                }
            finally:
                storage.close()
                client.close()
            return server.start_seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    start, rows = measure(args.size_mb, args.runs)

    print(f"SeaweedFS (weed mini), loopback, {args.size_mb} MB random file, median of {args.runs}")
    print()
    print("| measure | Trainyard S3Storage | boto3 default | ratio Trainyard/boto3 |")
    print("|---|---|---|---|")
    print(f"| server start | {start:.2f} s | | |")
    for name, (ours, theirs) in rows.items():
        print(f"| {name} MB/s | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
