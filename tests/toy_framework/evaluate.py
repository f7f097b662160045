"""The toy evaluation job: the colour rule of `toy_framework.predict` on the dataset's `val`
split, reported like every framework's classifier evaluation (top-1, per class, confusion)."""

from __future__ import annotations

from trainyard_runtime.training import TrainingContext, TrainingError, run_training
from trainyard_wire.failures import FailureReason


def evaluate(ctx: TrainingContext) -> dict[str, float]:
    import numpy as np
    from PIL import Image

    from toy_framework.predict import colour_scores
    from trainyard_runtime.datasets.imagefolder import imagefolder_classes
    from trainyard_runtime.evaluation import classification_report, evaluation_result
    from trainyard_runtime.export.job import source_checkpoint

    if ctx.spec.task != "classification":
        raise TrainingError(
            FailureReason.TASK_UNSUPPORTED, "the toy evaluates classification models only"
        )
    source_checkpoint(ctx)  # the trained job's checkpoint must be there, as for a real model
    labels = imagefolder_classes(ctx.dataset_dir)
    scores, targets = [], []
    for index, label in enumerate(labels):
        for path in sorted((ctx.dataset_dir / "val" / label).iterdir()):
            with Image.open(path) as image:
                scores.append(colour_scores(image, len(labels)))
            targets.append(index)
    metrics, details = classification_report(np.array(targets), np.array(scores), labels)
    return evaluation_result(ctx, metrics, details)


if __name__ == "__main__":
    run_training(evaluate)
