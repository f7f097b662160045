"""timm without Trainyard: the timm service's own model, data and epoch functions, in a plain
loop (the service's loop minus reporting and uploads). Under `torchrun` (WORLD_SIZE > 1) it
trains with DistributedDataParallel as the service does, and rank 0 prints the progress."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from progress import epoch_done, final
from timm.optim import create_optimizer_v2

from trainyard_runtime.datasets.imagefolder import imagefolder_classes
from trainyard_runtime.training.torch_distributed import end_process_group, start_process_group
from trainyard_runtime.training.torch_env import choose_device, seed_everything
from trainyard_timm import model as models
from trainyard_timm.data import build_loaders
from trainyard_timm.loop import Amp, _lr_factor, evaluate, train_one_epoch
from trainyard_timm.plugin import TimmOptions
from trainyard_wire.spec import JobSpec


def main(spec_path: Path, out: Path) -> None:
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    spec = JobSpec.model_validate(json.loads(spec_path.read_text()))
    hp, opts = spec.hyperparams, TimmOptions.model_validate(spec.options)
    dataset = Path(spec.dataset.uri)
    classes = imagefolder_classes(dataset)
    seed_everything(hp.seed)
    device = choose_device(spec.resources.gpu)
    if world > 1:
        start_process_group(device)
    model = models.create(spec.model, len(classes), opts.drop_rate, None)
    mean, std = models.normalization(model)
    data = build_loaders(dataset, spec, mean, std, opts.augment, device, rank, world)
    model.to(device)
    trained = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
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
    best: tuple[float, float] | None = None
    metrics: dict[str, float] = {}
    for epoch in range(1, hp.epochs + 1):
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
        if rank == 0:
            epoch_done(epoch)
        score = (metrics["top1"], -metrics["val_loss"])
        if rank == 0 and (best is None or score > best):
            best = score
            torch.save({"state_dict": model.state_dict(), "epoch": epoch}, out / "best.pt")
    if rank == 0:
        torch.save({"state_dict": model.state_dict(), "epoch": hp.epochs}, out / "last.pt")
        final(metrics)
    end_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
