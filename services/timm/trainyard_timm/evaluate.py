"""Evaluate a trained timm classifier on a labelled set: `python -m trainyard_timm.evaluate`.

The job's dataset (the training job's own by default) is read as in training, its `val` split
through the evaluation transform; val_loss is the same cross-entropy training reported.
"""

from __future__ import annotations

from trainyard_runtime.training import TrainingContext, run_training


def evaluate(ctx: TrainingContext) -> dict[str, float]:
    import torch
    from torchvision import datasets

    from trainyard_runtime.datasets.imagefolder import imagefolder_classes
    from trainyard_runtime.evaluation import (
        evaluate_classifier,
        evaluation_result,
        require_same_classes,
    )
    from trainyard_runtime.export.job import source_checkpoint
    from trainyard_timm.data import _rgb, build_transforms
    from trainyard_timm.predict import load_trained

    model, payload = load_trained(source_checkpoint(ctx))
    labels = list(payload["class_names"])
    require_same_classes(labels, imagefolder_classes(ctx.dataset_dir))
    _, eval_tf = build_transforms(payload["image_size"], payload["mean"], payload["std"], False)
    val = datasets.ImageFolder(str(ctx.dataset_dir / "val"), transform=eval_tf, loader=_rgb)
    loader = torch.utils.data.DataLoader(val, batch_size=ctx.spec.hyperparams.batch_size)
    metrics, details = evaluate_classifier(model, loader, labels, len(val))
    return evaluation_result(ctx, metrics, details)


if __name__ == "__main__":
    run_training(evaluate)
