"""What the direct scripts print for the benchmark to read (no Trainyard code involved)."""

from __future__ import annotations

import json
import time
from typing import Any

PREFIX = "BENCH "


def epoch_done(epoch: int) -> None:
    print(PREFIX + json.dumps({"epoch": epoch, "time": time.time()}), flush=True)


def final(metrics: dict[str, Any]) -> None:
    """The result, once the checkpoints are written: the moment a user has it."""
    values = {k: float(v) for k, v in metrics.items()}
    print(PREFIX + json.dumps({"metrics": values, "time": time.time()}), flush=True)
