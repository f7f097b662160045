"""Whether a framework can run a spec's `distributed` shape: checked before anything starts.

A job that asks for more processes or nodes than its framework spreads over would otherwise
fail minutes later inside torchrun; the gateway answers 422 at once instead, naming the field
and what the framework allows (e.g. Ultralytics distributes over CUDA devices only).
"""

from __future__ import annotations

from typing import Any

from trainyard_wire.runs import DistributedSupport
from trainyard_wire.spec import JobSpec, processes_per_node, world_size


def _problem(field: str, message: str, allowed: list[str]) -> dict[str, Any]:
    return {"field": field, "message": message, "allowed": allowed}


def executor_problems(executor: str, max_nodes: int, spec: JobSpec) -> list[dict[str, Any]]:
    """More nodes than the executor can place (the subprocess executor has this machine only)."""
    nodes = spec.distributed.nodes
    if nodes <= max_nodes:
        return []
    return [
        _problem(
            "distributed.nodes",
            f"the {executor} executor runs a job on at most {max_nodes} node(s), not {nodes}",
            [f"at most {max_nodes}", "executor kubernetes for several nodes"],
        )
    ]


def distributed_problems(
    framework: str, support: DistributedSupport, spec: JobSpec
) -> list[dict[str, Any]]:
    """What in `spec.distributed` (and the batch it splits) this framework cannot do."""
    world = world_size(spec)
    if world == 1:
        return []
    problems: list[dict[str, Any]] = []
    per_node = processes_per_node(spec)
    gpus = spec.resources.gpu or 0
    if per_node > 1 and gpus == 0 and not support.cpu_processes:
        problems.append(
            _problem(
                "distributed.processes_per_node",
                f"{framework} runs several processes per node on CUDA devices only, one per "
                f"GPU: a job without resources.gpu cannot have {per_node}",
                ["1 on the CPU", f"resources.gpu = {per_node} (one process per GPU)"],
            )
        )
    if per_node > 1 and gpus > 0:
        if not support.gpu_processes:
            problems.append(
                _problem(
                    "distributed.processes_per_node",
                    f"{framework} does not run several processes per node",
                    ["1"],
                )
            )
        elif per_node > gpus:
            problems.append(
                _problem(
                    "distributed.processes_per_node",
                    f"{per_node} processes on {gpus} GPU(s): each process trains on a GPU of "
                    "its own",
                    [f"at most resources.gpu ({gpus})"],
                )
            )
    if spec.distributed.nodes > 1 and not support.multi_node:
        problems.append(
            _problem(
                "distributed.nodes",
                f"{framework} does not train one job over several nodes",
                ["1"],
            )
        )
    batch = spec.hyperparams.batch_size
    if batch % world:
        problems.append(
            _problem(
                "hyperparams.batch_size",
                f"the global batch {batch} does not split evenly over {world} processes "
                f"({spec.distributed.nodes} node(s) x {per_node})",
                [f"a multiple of {world}"],
            )
        )
    return problems
