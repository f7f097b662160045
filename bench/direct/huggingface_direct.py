"""transformers without Trainyard: `Trainer` with the TrainingArguments the huggingface service
uses for the same job, on the service's own model builder and dataset. Under `torchrun`
Trainer runs DistributedDataParallel itself; each rank takes its share of the global batch and
rank 0 prints the progress."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from progress import epoch_done, final

from trainyard_huggingface.build import build_model, save_checkpoint
from trainyard_huggingface.data import Collator, make_datasets
from trainyard_huggingface.plugin import HuggingfaceOptions
from trainyard_huggingface.train import _accuracy, _optimizer
from trainyard_runtime.datasets.imagefolder import imagefolder_classes
from trainyard_runtime.training.torch_env import choose_device, seed_everything
from trainyard_wire.spec import JobSpec


def main(spec_path: Path, out: Path) -> None:
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    spec = JobSpec.model_validate(json.loads(spec_path.read_text()))
    hp, options = spec.hyperparams, HuggingfaceOptions.model_validate(spec.options)
    dataset = Path(spec.dataset.uri)
    classes = imagefolder_classes(dataset)
    import transformers
    from transformers import Trainer, TrainerCallback, TrainingArguments

    transformers.logging.set_verbosity_warning()
    seed_everything(hp.seed)
    built = build_model(spec, classes, options.config_overrides)
    train_set, val_set = make_datasets(dataset, hp.image_size, built.image_mean, built.image_std)
    device = choose_device(spec.resources.gpu)
    opt = _optimizer(spec, options)
    args = TrainingArguments(
        output_dir=str(out / "trainer"),
        num_train_epochs=hp.epochs,
        per_device_train_batch_size=max(1, hp.batch_size // world),
        per_device_eval_batch_size=max(1, hp.batch_size // world),
        learning_rate=hp.learning_rate,
        weight_decay=hp.weight_decay,
        lr_scheduler_type=options.lr_scheduler,
        warmup_steps=options.warmup_ratio,
        label_smoothing_factor=options.label_smoothing,
        seed=hp.seed,
        eval_strategy="epoch",
        logging_strategy="epoch",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=hp.workers,
        use_cpu=device == "cpu",
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,
        **opt["args"],
    )
    last: dict[str, float] = {}
    best: list[float] = []

    class KeepBest(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            epoch = round(state.epoch or 0)
            if rank == 0:
                epoch_done(epoch)
            values = {"val_loss": metrics["eval_loss"], "accuracy": metrics["eval_accuracy"]}
            last.update(values)
            if rank == 0 and (not best or values["accuracy"] > best[0]):
                best[:] = [values["accuracy"]]
                save_checkpoint(out / "best.pt", built, hp.image_size, epoch, values)

    trainer = Trainer(
        model=built.model,
        args=args,
        data_collator=Collator(built.interpolate_pos_encoding),
        train_dataset=train_set,
        eval_dataset=val_set,
        compute_metrics=_accuracy,
        callbacks=[KeepBest()],
        **opt["trainer"],
    )
    trainer.train()
    if rank == 0:
        save_checkpoint(out / "last.pt", built, hp.image_size, hp.epochs, last)
        final(last)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
