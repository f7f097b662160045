"""timm without Trainyard: the timm service's own model, data and epoch functions, in a plain
loop (the service's loop minus reporting and uploads)."""

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
from trainyard_runtime.training.torch_env import choose_device, seed_everything
from trainyard_timm import model as models
from trainyard_timm.data import build_loaders
from trainyard_timm.loop import Amp, _lr_factor, evaluate, train_one_epoch
from trainyard_timm.plugin import TimmOptions
from trainyard_wire.spec import JobSpec


def main(spec_path: Path, out: Path) -> None:
    spec = JobSpec.model_validate(json.loads(spec_path.read_text()))
    hp, opts = spec.hyperparams, TimmOptions.model_validate(spec.options)
    dataset = Path(spec.dataset.uri)
    classes = imagefolder_classes(dataset)
    seed_everything(hp.seed)
    device = choose_device(spec.resources.gpu)
    model = models.create(spec.model, len(classes), False, opts.drop_rate, None)
    mean, std = models.normalization(model)
    data = build_loaders(dataset, spec, mean, std, opts.augment, device)
    model.to(device)
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
        train_loss = train_one_epoch(model, data.train, criterion, optimizer, amp, device)
        metrics = {
            "train_loss": train_loss,
            **evaluate(model, data.val, criterion, amp, device, len(classes)),
            "lr": lr,
        }
        scheduler.step()
        epoch_done(epoch)
        score = (metrics["top1"], -metrics["val_loss"])
        if best is None or score > best:
            best = score
            torch.save({"state_dict": model.state_dict(), "epoch": epoch}, out / "best.pt")
    torch.save({"state_dict": model.state_dict(), "epoch": hp.epochs}, out / "last.pt")
    final(metrics)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
