"""The failure train.py expects and names: a reason from the one list, and a message."""

from __future__ import annotations

from trainyard_wire.failures import FailureReason


class TrainingError(Exception):
    """An expected failure with a reason users can act on (bad dataset, missing weights…)."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
