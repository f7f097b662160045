"""The ticker train.py: `tick <n> <unix time>` lines at a steady pace, then one epoch."""

from __future__ import annotations

import time

from bench.ticker_framework.plugin import TickerOptions
from trainyard_runtime.training import TrainingContext, run_training

PREFIX = "tick"


def parse(line: str) -> tuple[int, float] | None:
    """(n, the time the line was printed) for a ticker line, else None."""
    parts = line.split()
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    return int(parts[1]), float(parts[2])


def train(ctx: TrainingContext) -> dict[str, float]:
    options = TickerOptions.model_validate(ctx.spec.options)
    for n in range(options.lines):
        print(f"{PREFIX} {n} {time.time():.6f}", flush=True)
        time.sleep(options.interval)
    ctx.epoch_end(1, {"lines": options.lines})
    return {"lines": float(options.lines)}


if __name__ == "__main__":
    run_training(train)
