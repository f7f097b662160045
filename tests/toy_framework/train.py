"""The toy train.py: one metric event per epoch, a checkpoint, and failures on request.

Its checkpoints start with `epoch N`: resumed from one (`resume_from`), it goes on at N+1.
Fine-tuned from one (`init_from`), it starts at epoch 1 and says which checkpoint it loaded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from toy_framework.plugin import ToyOptions
from trainyard_runtime.training import TrainingContext, TrainingError, run_training

_CHECKPOINT_HEADER = re.compile(rb"epoch (\d+)")


def _first_epoch(ctx: TrainingContext) -> int:
    """1 for a fresh start; the epoch after the checkpoint's when resuming."""
    point = ctx.resume_point()
    if point is None:
        return 1
    header = point.checkpoint.read_bytes().split(b"\n", 1)[0]
    match = _CHECKPOINT_HEADER.fullmatch(header)
    if match is None:
        raise TrainingError("checkpoint_invalid", f"{point.key} is no toy checkpoint")
    return ctx.resuming_after(int(match[1]))


def _wait_for(path: str, timeout: float = 120.0) -> None:
    """Hold the run until a test lets it go on, so what it checks cannot race the run."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def train(ctx: TrainingContext) -> dict[str, float]:
    # The service checked every option against its schema; the toy acts on its own alone.
    own = {k: v for k, v in ctx.spec.options.items() if k in ToyOptions.model_fields}
    options = ToyOptions.model_validate(own)
    (ctx.work_dir / "pid").write_text(str(os.getpid()))
    if options.write_token:
        (ctx.work_dir / "token").write_text(os.environ["CALLBACK_TOKEN"])
    if options.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if options.spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (ctx.work_dir / "child_pid").write_text(str(child.pid))
    init = ctx.init_point()
    if init is not None:
        header = init.checkpoint.read_bytes().split(b"\n", 1)[0].decode(errors="replace")
        print(f"toy init_from {init.key}: {header}", flush=True)
    first = last = _first_epoch(ctx)
    loss = 0.5 ** (first - 1)  # where the loss stood after the epochs already done
    for epoch in range(first, ctx.total_epochs + 1):
        for i in range(options.lines_per_epoch):
            print(f"epoch {epoch} step {i}", flush=True)
        time.sleep(options.epoch_seconds)
        if options.fail_at_epoch == epoch:
            raise RuntimeError(f"toy failure at epoch {epoch}")
        if options.hard_exit_at_epoch == epoch:
            print("toy hard exit", flush=True)
            os._exit(options.exit_code)
        if options.hold_file and epoch == 2:
            _wait_for(options.hold_file)
        loss /= 2
        last = epoch
        if ctx.epoch_end(epoch, {"loss": loss, "accuracy": 1 - loss}):
            break  # spec.early_stopping
        if ctx.checkpoint_due():
            periodic = ctx.work_dir / "weights.bin"
            periodic.write_bytes(f"epoch {epoch}".encode())
            ctx.save_checkpoint(periodic, "last")
    weights = ctx.work_dir / "weights.bin"
    header = f"epoch {last}\n".encode()
    weights.write_bytes(header + os.urandom(4096 - len(header)))
    ctx.save_checkpoint(weights, "last")
    ctx.save_checkpoint(weights, "best")
    return {"loss": loss, "accuracy": 1 - loss}


if __name__ == "__main__":
    run_training(train)
