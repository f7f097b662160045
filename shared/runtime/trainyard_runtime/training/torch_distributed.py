"""The torch side of a rank in a distributed run: the process group, sums over all ranks.

For training loops of our own (timm's); frameworks with their own launcher logic (Hugging Face
Trainer, Ultralytics) set up their groups themselves. Gloo on the CPU, NCCL on GPUs, one GPU per
rank (its local rank). torch is imported inside the functions, as in torch_env.py.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from trainyard_runtime.distributed.world import LOCAL_RANK


def start_process_group(device: str) -> None:
    """Join the group torchrun set up (its variables name the rendezvous)."""
    import torch
    import torch.distributed as dist

    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get(LOCAL_RANK) or 0))
    dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")


def end_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def sum_over_ranks(values: Sequence[float], device: str) -> list[float]:
    """Each value summed over every rank (counts, loss sums): every rank gets the totals."""
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return [float(each) for each in tensor.tolist()]


def any_rank(flag: bool, device: str = "cpu") -> bool:
    """True on every rank when it is true on any: a decision the whole group takes together
    (a save that is a collective step must happen on all ranks or none)."""
    return sum_over_ranks([1.0 if flag else 0.0], device)[0] > 0
