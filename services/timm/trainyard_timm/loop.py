"""The timm training loop: a classifier on an ImageFolder dataset (entry point: train.py).

Reports one metric event per epoch and uploads `best.pt` (highest top1) and `last.pt` at the end
(and during training, every CHECKPOINT_INTERVAL_SECONDS). `last.pt` carries what resuming needs:
with `resume_from`, training goes on after the checkpoint's epoch (checkpoint.py); with
`init_from`, a new training starts from another job's weights (a new head for new classes).
With `early_stopping`, the loop ends after the epoch where the metric stalled.
In a distributed run (spec.distributed) every rank trains a DistributedDataParallel copy on its
share of each global batch (data.py); the metrics are summed over all ranks, so each rank sees
the same numbers (and early stopping decides alike everywhere), and rank 0 alone reports them
and saves the checkpoints.
Metrics per epoch: train_loss, val_loss, top1 and (with 5+ classes) top5 as fractions in [0, 1],
and lr, the learning rate used in that epoch.
"""

from __future__ import annotations

import functools
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from timm.optim import create_optimizer_v2

from trainyard_runtime.datasets.imagefolder import imagefolder_classes
from trainyard_runtime.training import TrainingContext, TrainingError
from trainyard_runtime.training.best_weights import BestWeights
from trainyard_runtime.training.torch_distributed import (
    end_process_group,
    start_process_group,
    sum_over_ranks,
)
from trainyard_runtime.training.torch_env import choose_device, package_versions, seed_everything
from trainyard_timm import model as models
from trainyard_timm.checkpoint import TimmCheckpoint, load_init_weights
from trainyard_timm.data import build_loaders
from trainyard_timm.plugin import TimmOptions
from trainyard_wire.failures import FailureReason


def _options(ctx: TrainingContext) -> TimmOptions:
    spec = ctx.spec
    if spec.task != "classification" or spec.dataset.format != "imagefolder":
        raise TrainingError(
            FailureReason.SPEC_UNSUPPORTED,
            f"timm trains classification on imagefolder datasets, not {spec.task} on "
            f"{spec.dataset.format}",
        )
    try:
        return TimmOptions.model_validate(spec.options)
    except ValidationError as exc:
        raise TrainingError(FailureReason.OPTIONS_INVALID, f"invalid timm options: {exc}") from exc


def _lr_factor(epoch: int, epochs: int, opts: TimmOptions) -> float:
    """Multiplier of the base learning rate for a 0-based epoch."""
    if epoch < opts.warmup_epochs:
        return (epoch + 1) / (opts.warmup_epochs + 1)
    if opts.scheduler == "none":
        return 1.0
    progress = (epoch - opts.warmup_epochs) / max(1, epochs - opts.warmup_epochs)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class Amp:
    """Mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling)."""

    def __init__(self, device: str, enabled: bool) -> None:
        self.enabled = enabled and device == "cuda"
        bf16 = self.enabled and torch.cuda.is_bf16_supported()
        self.dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and not bf16)

    def autocast(self):
        return torch.autocast("cuda", dtype=self.dtype) if self.enabled else nullcontext()


def train_one_epoch(model, loader, criterion, optimizer, amp: Amp, device: str) -> float:
    """The mean training loss over every rank's samples."""
    model.train()
    total, count = 0.0, 0
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with amp.autocast():
            loss = criterion(model(images), targets)
        optimizer.zero_grad(set_to_none=True)
        amp.scaler.scale(loss).backward()
        amp.scaler.step(optimizer)
        amp.scaler.update()
        total += loss.item() * targets.size(0)
        count += targets.size(0)
    total, count = sum_over_ranks([total, count], device)
    return total / max(count, 1)


@torch.no_grad()
def evaluate(model, loader, criterion, amp: Amp, device: str, num_classes: int) -> dict[str, float]:
    model.eval()
    loss_sum, top1, top5, count = 0.0, 0, 0, 0
    k = min(5, num_classes)
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with amp.autocast():
            logits = model(images)
        loss_sum += criterion(logits.float(), targets).item() * targets.size(0)
        hits = logits.topk(k, dim=1).indices.eq(targets[:, None])
        top1 += hits[:, 0].sum().item()
        top5 += hits.any(dim=1).sum().item()
        count += targets.size(0)
    loss_sum, top1, top5, count = sum_over_ranks([loss_sum, top1, top5, count], device)
    metrics = {"val_loss": loss_sum / max(count, 1), "top1": top1 / max(count, 1)}
    if num_classes >= 5:
        metrics["top5"] = top5 / max(count, 1)
    return metrics


@functools.cache
def _versions() -> dict[str, str]:
    """Looked up once: each lookup walks the installed distributions (~10 ms, every best epoch)."""
    return package_versions("timm", "torch")


def _save(path: Path, model, ctx: TrainingContext, extra: dict[str, Any]) -> Path:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return _save_weights(path, state, extra, ctx=ctx)


def _save_weights(
    path: Path, state: dict[str, torch.Tensor], extra: dict[str, Any], *, ctx: TrainingContext
) -> Path:
    versions = _versions()
    torch.save({"state_dict": state, "model": ctx.spec.model, **extra, **versions}, path)
    return path


def train(ctx: TrainingContext) -> dict[str, float]:
    if ctx.world_size == 1:
        return _train(ctx)
    start_process_group(choose_device(ctx.spec.resources.gpu))
    try:
        return _train(ctx)
    finally:
        end_process_group()


def _train(ctx: TrainingContext) -> dict[str, float]:
    spec, hp = ctx.spec, ctx.spec.hyperparams
    opts = _options(ctx)
    classes = imagefolder_classes(ctx.dataset_dir)  # fail on a bad dataset before any heavy work
    seed_everything(hp.seed)
    device = choose_device(spec.resources.gpu)

    # A resumed run starts from its checkpoint's weights, not pretrained ones.
    weights = None if spec.resume_from else models.pretrained_file(ctx, opts.pretrained_file)
    model = models.create(spec.model, len(classes), opts.drop_rate, weights)
    init = ctx.init_point()
    if init is not None:
        load_init_weights(model, init, spec.model, classes)
    mean, std = models.normalization(model)
    data = build_loaders(
        ctx.dataset_dir, spec, mean, std, opts.augment, device, ctx.rank, ctx.world_size
    )
    model.to(device)
    # What trains: the model itself, or its DistributedDataParallel wrapper that averages the
    # gradients over the ranks. Checkpoints and evaluation use the model itself.
    trained = model
    if ctx.world_size > 1:
        trained = torch.nn.parallel.DistributedDataParallel(model)
    print(
        f"[timm] {spec.model} on {device}: {len(classes)} classes, "
        f"{len(data.train.dataset)} train / {len(data.val.dataset)} val images, "
        f"image_size {hp.image_size}"
        + (f", rank {ctx.rank} of {ctx.world_size}" if ctx.world_size > 1 else ""),
        flush=True,
    )

    optimizer = create_optimizer_v2(
        model,
        opt=hp.optimizer,
        lr=hp.learning_rate,
        weight_decay=hp.weight_decay,
        **({"momentum": opts.momentum} if hp.optimizer == "sgd" else {}),
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda e: _lr_factor(e, hp.epochs, opts)
    )
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    amp = Amp(device, opts.amp)

    meta = {"class_names": classes, "image_size": hp.image_size, "mean": mean, "std": std}
    best_path, last_path = ctx.work_dir / "best.pt", ctx.work_dir / "last.pt"
    generator = data.train.generator
    assert generator is not None  # build_loaders seeds one for the shuffles
    checkpoint = TimmCheckpoint(model, optimizer, scheduler, amp.scaler, generator, best_path)
    progress = checkpoint.resume(ctx)
    best = BestWeights(best_path, functools.partial(_save_weights, ctx=ctx))

    def save_last(epoch: int, metrics: dict[str, float]) -> None:
        training = checkpoint.state()
        _save(
            last_path,
            model,
            ctx,
            {**meta, "epoch": epoch, "metrics": metrics, "training": training},
        )

    metrics: dict[str, float] = {}
    for epoch in range(progress.first_epoch, hp.epochs + 1):
        started = time.monotonic()
        lr = optimizer.param_groups[0]["lr"]
        if data.sampler is not None:
            data.sampler.set_epoch(epoch)
        train_loss = train_one_epoch(trained, data.train, criterion, optimizer, amp, device)
        metrics = {
            "train_loss": train_loss,
            **evaluate(model, data.val, criterion, amp, device, len(classes)),
            "lr": lr,
        }
        scheduler.step()
        stop = ctx.epoch_end(epoch, metrics)
        print(
            f"[timm] epoch {epoch}/{hp.epochs} ({time.monotonic() - started:.1f}s) "
            + " ".join(f"{k}={v:.4g}" for k, v in metrics.items()),
            flush=True,
        )
        score = (metrics["top1"], -metrics["val_loss"])
        if progress.best is None or score > progress.best:
            progress.best, progress.best_epoch = score, epoch
            if ctx.is_main:
                best.keep(model, **meta, epoch=epoch, metrics=metrics)
        if stop:  # spec.early_stopping: the metric stalled
            break
        if ctx.is_main and epoch < hp.epochs and ctx.checkpoint_due():
            save_last(epoch, metrics)
            best.write()
            ctx.save_periodic(last_path, best_path)

    if ctx.is_main:  # one copy of the weights: every rank holds the same
        save_last(epoch, metrics)
        best.write()
        ctx.save_checkpoint(best_path, "best")
        ctx.save_checkpoint(last_path, "last")
    assert progress.best is not None
    return {**metrics, "best_top1": progress.best[0], "best_epoch": float(progress.best_epoch)}
