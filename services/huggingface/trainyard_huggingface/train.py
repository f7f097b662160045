"""Train a transformers image classifier with Trainer: `python -m trainyard_huggingface.train`.

Trainer runs the loop (optimizer, schedule, evaluation once per epoch); a callback reports each
epoch to Trainyard after its evaluation, keeps the best weights by accuracy, and ends training
when early stopping says so. The run keeps two
single-file .pt checkpoints, uploaded at the end; a `last.pt` uploaded during training (every
CHECKPOINT_INTERVAL_SECONDS) also carries Trainer's state, to resume from (checkpoint.py).

Under the distributed launcher (spec.distributed) Trainer finds torchrun's variables and runs
DistributedDataParallel itself; `hyperparams.batch_size` is the global batch, shared out over
the ranks. Trainer gathers each evaluation over all ranks, so every rank's callback sees the
same metrics; rank 0's reach the job (the relay keeps only its), and rank 0 alone writes and
uploads checkpoints. Whether a periodic save is due is decided by all ranks together.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainyard_huggingface.build import Built, build_model, resolve_pretrained, save_checkpoint
from trainyard_huggingface.checkpoint import HuggingfaceCheckpoint, Resumed, load_init_weights
from trainyard_huggingface.data import Collator, make_datasets
from trainyard_huggingface.plugin import HuggingfaceOptions
from trainyard_runtime.datasets.imagefolder import imagefolder_classes
from trainyard_runtime.training import TrainingContext, TrainingError, run_training
from trainyard_runtime.training.best_weights import BestWeights
from trainyard_runtime.training.torch_distributed import any_rank
from trainyard_runtime.training.torch_env import choose_device, seed_everything
from trainyard_wire.failures import FailureReason


def _optimizer(spec, options: HuggingfaceOptions) -> dict[str, Any]:
    """TrainingArguments and Trainer settings for the job's optimizer name."""
    hp = spec.hyperparams
    if hp.optimizer == "adamw":
        return {"args": {"optim": "adamw_torch"}, "trainer": {}}
    if hp.optimizer == "sgd":
        return {
            "args": {"optim": "sgd", "optim_args": f"momentum={options.momentum}"},
            "trainer": {},
        }
    # adam: Trainer has no plain-Adam name, but takes an optimizer class; torch.optim.Adam
    # applies weight_decay as L2 in the gradient (Adam's meaning), unlike AdamW's decoupled decay.
    import torch

    return {
        "args": {},
        "trainer": {"optimizer_cls_and_kwargs": (torch.optim.Adam, {"lr": hp.learning_rate})},
    }


def _make_callback(
    ctx: TrainingContext,
    built: Built,
    checkpoint: HuggingfaceCheckpoint,
    image_size: int,
    resumed: Resumed | None,
):
    from transformers import TrainerCallback

    def write_best(path: Path, state: dict[str, Any], kept: dict[str, Any]) -> None:
        save_checkpoint(path, built, image_size, kept["epoch"], kept["metrics"], state)

    class EpochReporter(TrainerCallback):
        """After each epoch's evaluation: report it, and keep the weights when accuracy
        improves (written to best.pt before each upload).

        When a periodic last.pt is due, it has Trainer save its state and packs it in on_save.
        """

        def __init__(self) -> None:
            # (accuracy, -val_loss), carried over from the run this one resumes
            self.best: tuple[float, float] | None = resumed.best if resumed else None
            self.best_epoch = resumed.best_epoch if resumed else 0
            self.last_epoch = 0
            self.last_metrics: dict[str, float] = {}
            self.best_path = checkpoint.best_path
            self.best_weights = BestWeights(checkpoint.best_path, write_best)
            self.last_due: tuple[int, dict[str, float]] | None = None

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            epoch = round(state.epoch or 0)
            # Trainer logs the epoch's mean training loss (logging_strategy="epoch") just before
            # it evaluates: the newest "loss" entry is this epoch's.
            train_loss = next(
                (e["loss"] for e in reversed(state.log_history) if "loss" in e), math.nan
            )
            values = {
                "train_loss": float(train_loss),
                "val_loss": float(metrics["eval_loss"]),
                "accuracy": float(metrics["eval_accuracy"]),
            }
            if ctx.epoch_end(epoch, values):  # spec.early_stopping: the metric stalled
                control.should_training_stop = True
            self.last_epoch, self.last_metrics = epoch, values
            score = (values["accuracy"], -values["val_loss"])
            if self.best is None or score > self.best:
                self.best, self.best_epoch = score, epoch
                if ctx.is_main:
                    self.best_weights.keep(built.model, epoch=epoch, metrics=values)
            due = ctx.checkpoint_due() if ctx.is_main else False
            if ctx.world_size > 1:  # Trainer's save runs on every rank, or on none
                due = any_rank(due)
            if epoch < ctx.total_epochs and due:
                self.last_due = (epoch, values)
                control.should_save = True  # Trainer saves its state next, then calls on_save

        def on_save(self, args, state, control, **kwargs):
            if self.last_due is None:
                return
            epoch, values = self.last_due
            self.last_due = None
            if not ctx.is_main:
                return
            last_path = ctx.work_dir / "last.pt"
            best = {"score": list(self.best), "epoch": self.best_epoch} if self.best else None
            save_checkpoint(
                last_path, built, image_size, epoch, values, **checkpoint.state(), best=best
            )
            self.best_weights.write()
            ctx.save_periodic(last_path, self.best_path)

    return EpochReporter()


def _accuracy(prediction) -> dict[str, float]:
    import numpy as np

    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": float((np.argmax(logits, axis=-1) == prediction.label_ids).mean())}


def train(ctx: TrainingContext) -> dict[str, float]:
    spec, hp = ctx.spec, ctx.spec.hyperparams
    if spec.task != "classification" or spec.dataset.format != "imagefolder":
        raise TrainingError(
            FailureReason.TASK_UNSUPPORTED,
            "huggingface trains classification on imagefolder datasets only",
        )
    options = HuggingfaceOptions.model_validate(spec.options)
    classes = imagefolder_classes(ctx.dataset_dir)
    # Fail fast, before the slow imports, when no tier has the weights (a resumed run too: a
    # hub model's architecture is only known from them).
    pretrained = resolve_pretrained(ctx) if hp.pretrained else None

    import transformers
    from transformers import Trainer, TrainingArguments

    transformers.logging.set_verbosity_warning()
    seed_everything(hp.seed)  # before building: the random init follows the seed
    built = build_model(spec, classes, options.config_overrides, pretrained)
    init = ctx.init_point()
    if init is not None:  # fine-tuning: another job's weights, a new head for new classes
        load_init_weights(built, init, classes)
    train_set, val_set = make_datasets(
        ctx.dataset_dir, hp.image_size, built.image_mean, built.image_std
    )
    device = choose_device(spec.resources.gpu)
    print(
        f"[huggingface] {type(built.model).__name__}: "
        f"{sum(p.numel() for p in built.model.parameters()):,} parameters, classes {classes}, "
        f"{len(train_set)} train / {len(val_set)} val images, device {device}",
        flush=True,
    )
    opt = _optimizer(spec, options)
    args = TrainingArguments(
        output_dir=str(ctx.work_dir / "trainer"),
        num_train_epochs=hp.epochs,
        # The global batch, shared out over the ranks of a distributed run.
        per_device_train_batch_size=max(1, hp.batch_size // ctx.world_size),
        per_device_eval_batch_size=max(1, hp.batch_size // ctx.world_size),
        learning_rate=hp.learning_rate,
        weight_decay=hp.weight_decay,
        lr_scheduler_type=options.lr_scheduler,
        warmup_steps=options.warmup_ratio,  # a float below 1 is a fraction of all steps
        label_smoothing_factor=options.label_smoothing,
        seed=hp.seed,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",  # checkpoints are our own .pt files (see module docstring)
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=hp.workers,
        use_cpu=device == "cpu",
        remove_unused_columns=False,  # our dataset is a plain torch one, nothing to prune
        ddp_find_unused_parameters=False,  # every parameter trains: no extra graph walk
        **opt["args"],
    )
    checkpoint = HuggingfaceCheckpoint(built, Path(args.output_dir), ctx.work_dir / "best.pt")
    resumed = checkpoint.resume(ctx)
    reporter = _make_callback(ctx, built, checkpoint, hp.image_size, resumed)
    trainer = Trainer(
        model=built.model,
        args=args,
        data_collator=Collator(built.interpolate_pos_encoding),
        train_dataset=train_set,
        eval_dataset=val_set,
        compute_metrics=_accuracy,
        callbacks=[reporter],
        **opt["trainer"],
    )
    trainer.train(resume_from_checkpoint=str(resumed.folder) if resumed else None)

    if reporter.best is None:
        raise TrainingError(
            FailureReason.NO_EPOCHS, "training ended without a single evaluated epoch"
        )
    if ctx.is_main:
        last = save_checkpoint(
            ctx.work_dir / "last.pt",
            built,
            hp.image_size,
            reporter.last_epoch,
            reporter.last_metrics,
        )
        reporter.best_weights.write()
        ctx.save_checkpoint(reporter.best_path, "best")
        ctx.save_checkpoint(last, "last")
    return {**reporter.last_metrics, "best_accuracy": reporter.best[0]}


if __name__ == "__main__":
    run_training(train)
