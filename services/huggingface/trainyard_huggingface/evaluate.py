"""Evaluate a trained transformers classifier on a labelled set:
`python -m trainyard_huggingface.evaluate` (the `val` split through its training transform)."""

from __future__ import annotations

from trainyard_runtime.training import TrainingContext, run_training


def evaluate(ctx: TrainingContext) -> dict[str, float]:
    import torch

    from trainyard_huggingface.build import load_checkpoint
    from trainyard_huggingface.data import make_datasets
    from trainyard_runtime.datasets.imagefolder import imagefolder_classes
    from trainyard_runtime.evaluation import (
        evaluate_classifier,
        evaluation_result,
        require_same_classes,
    )
    from trainyard_runtime.export.job import source_checkpoint

    model, payload = load_checkpoint(source_checkpoint(ctx))
    id2label = payload["id2label"]
    labels = [str(id2label[i]) for i in sorted(id2label)]
    require_same_classes(labels, imagefolder_classes(ctx.dataset_dir))
    _, val = make_datasets(
        ctx.dataset_dir, payload["image_size"], payload["image_mean"], payload["image_std"]
    )
    loader = torch.utils.data.DataLoader(val, batch_size=ctx.spec.hyperparams.batch_size)
    extra = {"interpolate_pos_encoding": True} if payload.get("interpolate_pos_encoding") else {}
    metrics, details = evaluate_classifier(
        lambda images: model(pixel_values=images, **extra).logits, loader, labels, len(val)
    )
    metrics["accuracy"] = metrics["top1"]  # what training reports per epoch
    return evaluation_result(ctx, metrics, details)


if __name__ == "__main__":
    run_training(evaluate)
