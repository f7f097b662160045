"""Early stopping, the same for every framework: `spec.early_stopping` read after each epoch.

Each framework's train.py reports its epochs through `TrainingContext.epoch_end`, which feeds
them to one `EarlyStopper` and answers whether to stop; the framework then ends its own loop
(a break, `control.should_training_stop`, `trainer.stop`) and saves its checkpoints as usual.
A metric that is missing, None or NaN in an epoch counts as no improvement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from trainyard_wire.events import StoppedEarly
from trainyard_wire.spec import EarlyStopping, default_mode


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class EarlyStopper:
    """Counts epochs since `rule.metric` last improved by more than `rule.min_delta`."""

    def __init__(self, rule: EarlyStopping) -> None:
        self.rule = rule
        self.mode = rule.mode or default_mode(rule.metric)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.epochs_without_improvement = 0

    def improves(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.rule.min_delta
        return value < self.best - self.rule.min_delta

    def update(self, epoch: int, metrics: Mapping[str, Any]) -> bool:
        """Take one finished epoch's metrics; True when training should stop after it."""
        value = _finite(metrics.get(self.rule.metric))
        if value is not None and self.improves(value):
            self.best, self.best_epoch = value, epoch
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        return self.epochs_without_improvement >= self.rule.patience

    def stopped_at(self, epoch: int) -> StoppedEarly:
        """What a run that stops after `epoch` reports."""
        rule = self.rule
        since = f"since epoch {self.best_epoch} ({self.best:.6g})" if self.best_epoch else "at all"
        reason = (
            f"{rule.metric} ({self.mode}) did not improve by more than {rule.min_delta:g} for "
            f"{self.epochs_without_improvement} epochs (patience {rule.patience}) {since}"
        )
        return StoppedEarly(epoch=epoch, best_epoch=self.best_epoch, reason=reason)
