"""Evaluate a trained YOLO model on a labelled set with ultralytics' own validator:
`python -m trainyard_ultralytics.evaluate`.

The numbers are the ones training reports per epoch (`val/mAP50`, `val/mAP50-95`, … named as
train.py names them; classification `val/top1_accuracy`, `val/top5_accuracy`), plus the AP of
each class (mAP50-95 per class, boxes; masks or keypoints too where the task has them).
"""

from __future__ import annotations

from typing import Any

from trainyard_runtime.training import TrainingContext, run_training


def _per_class(results: Any, part: str) -> list[dict[str, Any]]:
    metric = getattr(results, part, None)
    if metric is None or not hasattr(metric, "ap_class_index"):
        return []
    names = results.names
    return [
        {"label": str(names[int(c)]), "class_id": int(c), "ap50": float(ap50), "ap": float(ap)}
        for c, ap50, ap in zip(metric.ap_class_index, metric.ap50, metric.ap, strict=True)
    ]


def evaluate(ctx: TrainingContext) -> dict[str, float]:
    from trainyard_runtime.evaluation import evaluation_result
    from trainyard_runtime.export.job import source_checkpoint
    from trainyard_ultralytics.runtime import apply_offline_settings, prepare_offline
    from trainyard_ultralytics.train import _dataset_arg, readable

    weights = source_checkpoint(ctx)
    data = _dataset_arg(ctx)
    prepare_offline(ctx.work_dir / "ultralytics-config")
    apply_offline_settings()
    from ultralytics import YOLO

    hp = ctx.spec.hyperparams
    results = YOLO(str(weights)).val(
        data=data,
        imgsz=hp.image_size,
        batch=hp.batch_size * 2,  # the batch training validates with (its trainer's choice)
        device="cpu",
        plots=False,
        project=str(ctx.work_dir / "runs"),
        name="val",
        exist_ok=True,
        verbose=False,
    )
    metrics = readable(results.results_dict)
    details: dict[str, Any] = {
        part: _per_class(results, part)
        for part in ("box", "seg", "pose")
        if _per_class(results, part)
    }
    return evaluation_result(ctx, metrics, details)


if __name__ == "__main__":
    run_training(evaluate)
