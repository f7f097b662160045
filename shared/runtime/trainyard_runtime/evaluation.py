"""What an evaluation job (`spec.kind == "evaluate"`) reports for a classifier, from its scores
on a labelled set (numpy), and the torch loop over that set every framework's classifier shares.

top-1 and (with 5 classes or more) top-5 accuracy as fractions, per-class precision and recall
of the top-1 answer, and the confusion matrix (rows: true class, columns: predicted), so the
numbers match the ones training reported per epoch for the same model and data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from trainyard_runtime.training.context import TrainingContext
from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.failures import FailureReason


def classification_report(
    targets: np.ndarray, scores: np.ndarray, labels: list[str]
) -> tuple[dict[str, float], dict[str, Any]]:
    """(the job's metrics, the details: per class and the confusion matrix)."""
    count, classes = scores.shape
    ranked = np.argsort(-scores, axis=1, kind="stable")
    predicted = ranked[:, 0]
    metrics = {"top1": float((predicted == targets).mean()) if count else 0.0}
    if classes >= 5:
        metrics["top5"] = float((ranked[:, :5] == targets[:, None]).any(axis=1).mean())
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    per_class = []
    for index, label in enumerate(labels):
        hits = int(confusion[index, index])
        said = int(confusion[:, index].sum())
        support = int(confusion[index].sum())
        per_class.append(
            {
                "label": label,
                "precision": hits / said if said else 0.0,
                "recall": hits / support if support else 0.0,
                "support": support,
            }
        )
    return metrics, {
        "labels": labels,
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "images": int(count),
    }


def evaluate_classifier(
    logits_of: Callable[[Any], Any],
    batches: Iterable[tuple[Any, Any]],
    labels: list[str],
    count: int,
) -> tuple[dict[str, float], dict[str, Any]]:
    """A torch classifier's report over (images, targets) batches, `logits_of` answering a
    batch's logits, plus val_loss: the mean cross-entropy over its `count` images, as training
    reports it. torch is imported when called."""
    import torch

    scores, targets, loss_sum = [], [], 0.0
    criterion = torch.nn.CrossEntropyLoss(reduction="sum")
    with torch.inference_mode():
        for images, target in batches:
            logits = logits_of(images).float()
            loss_sum += float(criterion(logits, target))
            scores.append(logits.numpy())
            targets.append(target.numpy())
    metrics, details = classification_report(
        np.concatenate(targets), np.concatenate(scores), labels
    )
    metrics["val_loss"] = loss_sum / max(count, 1)
    return metrics, details


def require_same_classes(trained: list[str], found: list[str]) -> None:
    """A classifier is evaluated only on data with the classes it was trained on."""
    if trained != found:
        raise TrainingError(
            FailureReason.DATASET_INVALID,
            f"the model knows the classes {trained}; this dataset has {found}: evaluate on data "
            "with the same classes",
        )


def evaluation_result(
    ctx: TrainingContext, metrics: dict[str, float], details: dict[str, Any]
) -> dict[str, float]:
    """Put the evaluation on the job (its result) and answer its final metrics."""
    source = ctx.spec.source.model_dump() if ctx.spec.source else None
    ctx.result = {"metrics": metrics, **details, "source": source}
    return metrics
