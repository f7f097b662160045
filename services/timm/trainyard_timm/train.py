"""Train a timm classifier for a Trainyard job: `python -m trainyard_timm.train`.

The run reports `running` first; torch and timm (seconds to import) load after it, in loop.py.
"""

from __future__ import annotations

from trainyard_runtime.training import TrainingContext, run_training


def train(ctx: TrainingContext) -> dict[str, float]:
    from trainyard_timm.loop import train as train_loop

    return train_loop(ctx)


if __name__ == "__main__":
    run_training(train)
