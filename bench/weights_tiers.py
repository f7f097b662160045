"""How long each weights tier takes to serve resnet18-sized weights (~45 MB).

Tier 3: a local hub server (tests/support/hub_server.py, the Hugging Face file-download
protocol) through huggingface_hub, then the manifest, the local cache and the upload to
storage; tier 2: from a real SeaweedFS S3 server into an empty local cache; tier 1: a cache hit
(every file's sha256 checked again). Resolver time only: no framework loads the file.

Run: `.venv/bin/python -m bench.weights_tiers [--size-mb 45] [--runs 3]`. `make bench` runs it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.report import Table
from bench.storage_s3 import make_file
from tests.support.hub_server import HubServer
from tests.support.server_s3 import running_s3_server
from trainyard_runtime.storage.s3 import S3Storage
from trainyard_runtime.weights.hub import HubSource
from trainyard_runtime.weights.local_cache import WeightsCache
from trainyard_runtime.weights.resolver import Tier, resolve_weights
from trainyard_runtime.weights.shared_store import SharedWeights

NAME = "weights_tiers"
RESNET18_MB = 45  # timm resnet18's model.safetensors is 46.8 MB


def measure(size_mb: int, runs: int) -> dict[Tier, float]:
    """Median seconds per tier over `runs` rounds (each round: source, storage, cache)."""
    seconds: dict[Tier, list[float]] = {tier: [] for tier in Tier}
    with tempfile.TemporaryDirectory(prefix="bench-weights-") as tmp:
        work = Path(tmp)
        repo = work / "hub" / "model"
        repo.mkdir(parents=True)
        make_file(repo / "model.safetensors", size_mb * (1 << 20))
        hub = HubServer().start()
        hub.add_repo("bench/resnet18", repo)
        try:
            with running_s3_server(work / "server", bucket="bench") as server:
                for round_ in range(runs):
                    prefix = f"s3://bench/round-{uuid.uuid4().hex[:8]}"
                    shared = SharedWeights(S3Storage.from_uri(prefix, environ=server.env()))
                    source = HubSource("bench/resnet18", ("model.safetensors",), endpoint=hub.url)
                    for tier, cache in (
                        (Tier.SOURCE, f"a-{round_}"),
                        (Tier.STORAGE, f"b-{round_}"),
                        (Tier.CACHE, f"b-{round_}"),
                    ):
                        started = time.perf_counter()
                        got = resolve_weights(
                            "timm",
                            "resnet18",
                            cache=WeightsCache(work / cache),
                            shared=shared,
                            source=source,
                            scratch=work / "scratch",
                        )
                        seconds[tier].append(time.perf_counter() - started)
                        assert got.tier == tier, (got.tier, tier)
        finally:
            hub.stop()
    return {tier: statistics.median(values) for tier, values in seconds.items()}


def run(work: Path, quick: bool) -> list[Table]:
    size_mb, runs = (RESNET18_MB, 1) if quick else (RESNET18_MB, 3)
    medians = measure(size_mb, runs)
    table = Table(
        "Pretrained weights: time each tier takes to serve them",
        f"A {size_mb} MB weights file (resnet18's size) resolved by trainyard_runtime.weights: "
        "tier 3 from a local hub server through huggingface_hub (then manifest, local cache and "
        "upload to S3), tier 2 from SeaweedFS S3 into an empty local cache, tier 1 a cache hit "
        f"(sha256 checked again); median of {runs} round(s).",
        ["tier", "seconds", "MB/s"],
    )
    for tier, label in (
        (Tier.SOURCE, "3 source (hub) + put in storage"),
        (Tier.STORAGE, "2 storage (S3)"),
        (Tier.CACHE, "1 local cache"),
    ):
        table.add(label, f"{medians[tier]:.2f}", f"{size_mb * 1.048576 / medians[tier]:.0f}")
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=RESNET18_MB)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for tier, seconds in measure(args.size_mb, args.runs).items():
        print(f"| {tier} | {seconds:.2f} s |")


if __name__ == "__main__":
    main()
