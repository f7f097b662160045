"""Object storage: Trainyard's S3 storage against boto3's own transfers (bench/storage_s3.py)."""

from __future__ import annotations

from pathlib import Path

from bench.report import Table
from bench.storage_s3 import measure

NAME = "storage"


def run(work: Path, quick: bool) -> list[Table]:
    size_mb, runs = (20, 1) if quick else (100, 3)
    start, rows = measure(size_mb, runs)
    table = Table(
        "Object storage: S3Storage vs boto3",
        f"A {size_mb} MB random file up and down through Trainyard's S3Storage (sha256 computed "
        "before the upload and verified after the download) and through boto3's "
        "upload_file/download_file with default settings, against a local SeaweedFS server "
        f"(`weed mini`, started in {start:.1f} s); median of {runs} alternating run(s).",
        ["direction", "Trainyard MB/s", "boto3 MB/s", "ratio Trainyard/boto3"],
    )
    for name, (ours, theirs) in rows.items():
        table.add(name, f"{ours:.0f}", f"{theirs:.0f}", f"{ours / theirs:.2f}")
    return [table]
