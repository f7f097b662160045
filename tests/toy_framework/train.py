"""The toy train.py: one metric event per epoch, a checkpoint, and failures on request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from toy_framework.plugin import ToyOptions
from trainyard_shared.training import TrainingContext, run_training


def train(ctx: TrainingContext) -> dict[str, float]:
    options = ToyOptions.model_validate(ctx.spec.options)
    (ctx.work_dir / "pid").write_text(str(os.getpid()))
    if options.write_token:
        (ctx.work_dir / "token").write_text(os.environ["CALLBACK_TOKEN"])
    if options.spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (ctx.work_dir / "child_pid").write_text(str(child.pid))
    loss = 1.0
    for epoch in range(1, ctx.total_epochs + 1):
        for i in range(options.lines_per_epoch):
            print(f"epoch {epoch} step {i}", flush=True)
        time.sleep(options.epoch_seconds)
        if options.fail_at_epoch == epoch:
            raise RuntimeError(f"toy failure at epoch {epoch}")
        if options.hard_exit_at_epoch == epoch:
            print("toy hard exit", flush=True)
            os._exit(options.exit_code)
        loss /= 2
        ctx.epoch_end(epoch, {"loss": loss, "accuracy": 1 - loss})
        if ctx.checkpoint_due():
            periodic = ctx.work_dir / "weights.bin"
            periodic.write_bytes(f"epoch {epoch}".encode())
            ctx.save_checkpoint(periodic, "last")
    weights = ctx.work_dir / "weights.bin"
    weights.write_bytes(os.urandom(4096))
    ctx.save_checkpoint(weights, "last")
    ctx.save_checkpoint(weights, "best")
    return {"loss": loss, "accuracy": 1 - loss}


if __name__ == "__main__":
    run_training(train)
