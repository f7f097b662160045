"""A classifier's evaluation from its scores (numpy): accuracy, per-class precision and recall,
the confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest

from trainyard_runtime.evaluation import classification_report, require_same_classes
from trainyard_runtime.training import TrainingError
from trainyard_wire.failures import FailureReason

LABELS = ["circle", "square", "triangle"]


def test_three_classes_counted_by_hand() -> None:
    targets = np.array([0, 0, 1, 1, 2, 2])
    # predicted top-1: 0, 1, 1, 1, 2, 0
    scores = np.array(
        [[9, 1, 0], [1, 9, 0], [0, 9, 1], [0, 9, 1], [0, 1, 9], [9, 0, 1]], dtype=np.float32
    )
    metrics, details = classification_report(targets, scores, LABELS)
    assert metrics == {"top1": pytest.approx(4 / 6)}  # fewer than 5 classes: no top5
    assert details["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert details["per_class"] == [
        {"label": "circle", "precision": 0.5, "recall": 0.5, "support": 2},
        {"label": "square", "precision": pytest.approx(2 / 3), "recall": 1.0, "support": 2},
        {"label": "triangle", "precision": 1.0, "recall": 0.5, "support": 2},
    ]
    assert details["images"] == 6


def test_top5_with_five_classes_or_more() -> None:
    targets = np.array([5, 0])
    scores = np.array([[6, 5, 4, 3, 2, 1], [6, 5, 4, 3, 2, 1]], dtype=np.float32)
    metrics, _ = classification_report(targets, scores, [str(i) for i in range(6)])
    assert metrics == {"top1": 0.5, "top5": 0.5}  # class 5 ranks sixth; class 0 first


def test_other_classes_are_refused() -> None:
    require_same_classes(LABELS, list(LABELS))
    with pytest.raises(TrainingError) as caught:
        require_same_classes(LABELS, ["cat", "dog"])
    assert caught.value.reason == FailureReason.DATASET_INVALID
