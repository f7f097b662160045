"""Distributed training: images/s of one job at 1 and 2 processes, through Trainyard and by hand.

Per framework (timm, Hugging Face) and per process count, the same spec trains as a Trainyard
job (`distributed.processes_per_node`, the launcher in front of torchrun's agent) and by hand
(the framework's direct script, `bench/direct/`, under `torchrun --standalone` for 2). The
throughput is taken between the end of epoch 1 and the end of the last epoch, as each side's
training process stamps them (rank 0's metric event; the direct script's progress line), so
imports and process starts count on neither side: the ratio is the platform's cost per epoch
(relay, reporting, checkpoints), not its start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.direct_run import run_direct_script
from bench.jobs import unix_time
from bench.measure import ratio
from bench.report import Table, progress
from bench.stack import Stack
from trainyard_client import Client
from trainyard_dev.launcher import SERVICES
from trainyard_dev.synthetic import make_digits

NAME = "distributed"
TIMEOUT = 900
PROCESSES = (1, 2)


@dataclass(frozen=True)
class Case:
    framework: str
    model: str
    hyperparams: dict[str, Any]
    metric: str
    options: dict[str, Any]


# Small models: this benchmark is about what the platform adds per epoch around torchrun and
# DDP, on a shared 2-core machine, not about the models.
TINY_VIT = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "patch_size": 8,
}
CASES = (
    Case(
        "timm",
        "test_resnet",
        {"epochs": 4, "batch_size": 16, "image_size": 32, "learning_rate": 0.01},
        "top1",
        {},
    ),
    Case(
        "huggingface",
        "vit",
        {"epochs": 4, "batch_size": 16, "image_size": 32, "learning_rate": 0.002},
        "accuracy",
        {"config_overrides": TINY_VIT},
    ),
)


@dataclass
class Result:
    images_per_second: float
    metric: float


def spec(case: Case, dataset: Path, processes: int, quick: bool) -> dict[str, Any]:
    hyperparams = {**case.hyperparams, "seed": 0}
    if quick:
        hyperparams["epochs"] = 3
    return {
        "framework": case.framework,
        "task": "classification",
        "model": case.model,
        "dataset": {"uri": str(dataset), "format": "imagefolder"},
        "hyperparams": hyperparams,
        "options": case.options,
        "resources": {"gpu": 0},
        "distributed": {"processes_per_node": processes},
        "project": "bench",
    }


def throughput(stamps: list[float], train_images: int) -> float:
    """Images per second from the end of epoch 1 to the end of the last one."""
    return (len(stamps) - 1) * train_images / (stamps[-1] - stamps[0])


def by_hand(case: Case, job: dict[str, Any], out: Path, train_images: int) -> Result:
    processes = job["distributed"]["processes_per_node"]
    launcher = (
        ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
        if processes > 1
        else []
    )
    reports = run_direct_script(
        case.framework, job, out, TIMEOUT, f"{case.framework} by hand", launcher
    ).reports
    stamps = [r["time"] for r in reports if "epoch" in r]
    final = next(r for r in reports if "metrics" in r)["metrics"]
    return Result(throughput(stamps, train_images), final[case.metric])


def through_trainyard(api: Client, case: Case, job: dict[str, Any], train_images: int) -> Result:
    created = api.create_job(job)
    done = api.wait(created.id, timeout=TIMEOUT, poll_interval=0.5)
    if done.state != "succeeded":
        raise RuntimeError(f"job {created.id} ended {done.state}: {done.error}")
    stamps = [unix_time(epoch.time) for epoch in api.metrics(created.id).epochs]
    return Result(throughput(stamps, train_images), done.metrics[case.metric])


def run(work: Path, quick: bool) -> list[Table]:
    # Real handwritten digits, ten classes: hard enough that the final accuracy at 1 and 2
    # processes says something (the synthetic shapes reach 1.0 either way).
    dataset = make_digits(
        work / "digits", tuple(range(10)), train_per_class=40, val_per_class=15, size=32
    )
    train_images = sum(1 for _ in (dataset / "train").rglob("*.png"))
    val_images = sum(1 for _ in (dataset / "val").rglob("*.png"))
    table = Table(
        "Distributed training: images/s at 1 and 2 processes, through Trainyard and by hand",
        "One job's training throughput on this machine's CPU (gloo), from the end of epoch 1 to "
        "the end of the last epoch: through Trainyard (the subprocess executor's launcher in "
        "front of torchrun's agent, rank 0 reporting through the relay) and by hand (the "
        "framework's direct script, under `torchrun --standalone` for 2 processes). Same spec, "
        "global batch and seed on both sides.",
        [
            "framework (model)",
            "processes",
            "by hand images/s",
            "Trainyard images/s",
            "ratio by hand/Trainyard",
            "final metric: by hand / Trainyard",
        ],
    )
    service_var = {c.name: c.env_var for c in SERVICES}
    for case in CASES:
        with Stack(work / case.framework) as stack:
            _, service = stack.service(case.framework, MAX_CONCURRENT_RUNS="2")
            gateway = stack.gateway(**{str(service_var[case.framework]): service})
            with Client(gateway.url) as api:
                for processes in PROCESSES:
                    job = spec(case, dataset, processes, quick)
                    progress(f"{case.framework}: {processes} process(es) by hand")
                    out = work / case.framework / f"by-hand-{processes}"
                    hand = by_hand(case, job, out, train_images)
                    progress(f"{case.framework}: {processes} process(es) through Trainyard")
                    ours = through_trainyard(api, case, job, train_images)
                    table.add(
                        f"{case.framework} ({case.model})",
                        processes,
                        f"{hand.images_per_second:.1f}",
                        f"{ours.images_per_second:.1f}",
                        ratio(hand.images_per_second, ours.images_per_second),
                        f"{hand.metric:.4f} / {ours.metric:.4f}",
                    )
    hp = CASES[0].hyperparams
    epochs = 3 if quick else hp["epochs"]
    table.notes += [
        f"scikit-learn's handwritten digits, 10 classes: {train_images} training and "
        f"{val_images} validation images of 32 px, {epochs} epochs, global batch "
        f"{hp['batch_size']} (each of 2 processes takes half); one run of each.",
        "A machine with 2 cores: 2 processes share them (torchrun sets OMP_NUM_THREADS=1 per "
        "process), so 2 processes are not expected to be faster than 1 here; the ratio "
        "between the two sides is the point.",
        "The final metric is the validation accuracy after the last epoch: 1 against 2 "
        "processes with the same global batch is the accuracy comparison (the sampler's order "
        "and the per-process batch norm statistics differ, so the figures need not be equal).",
        "By hand runs with PyTorch's default OpenMP wait policy, Trainyard's runs with "
        "a short spin of idle threads (GOMP_SPINCOUNT=10000; see `shared-cores`).",
    ]
    return [table]
