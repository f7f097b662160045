"""What `spec.distributed` a framework and an executor accept, and the 422 problems otherwise."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.toy_framework.plugin import PLUGIN as TOY
from trainyard_servicekit.app import TrainingService
from trainyard_servicekit.distributed_checks import distributed_problems, executor_problems
from trainyard_servicekit.executors.device_pool import DevicePool
from trainyard_servicekit.executors.subprocess import SubprocessExecutor
from trainyard_servicekit.settings import ServiceSettings
from trainyard_wire.runs import DistributedSupport
from trainyard_wire.spec import JobSpec, Resources, processes_per_node, world_size

EVERYTHING = DistributedSupport(cpu_processes=True, gpu_processes=True, multi_node=True)
GPUS_ONLY = DistributedSupport(gpu_processes=True, own_launcher=True)  # Ultralytics' shape


def spec(gpu: int | None = 0, batch: int = 16, **distributed: Any) -> JobSpec:
    return JobSpec.model_validate(
        {
            "framework": "fw",
            "task": "classification",
            "model": "m",
            "dataset": {"uri": "/d", "format": "imagefolder"},
            "hyperparams": {"batch_size": batch},
            "resources": {"gpu": gpu},
            "distributed": distributed,
        }
    )


def fields(problems: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["field"]: p for p in problems}


@pytest.mark.parametrize(
    ("gpu", "distributed", "per_node", "world"),
    [
        (0, {}, 1, 1),
        (None, {}, 1, 1),
        (4, {}, 4, 4),  # one process per GPU asked for
        (4, {"nodes": 2}, 4, 8),
        (0, {"processes_per_node": 3, "nodes": 2}, 3, 6),
        (4, {"processes_per_node": 2}, 2, 2),
    ],
)
def test_processes_default_to_one_per_gpu(gpu, distributed, per_node, world) -> None:
    job = spec(gpu, **distributed)
    assert (processes_per_node(job), world_size(job)) == (per_node, world)


def test_bounds_are_refused_by_the_spec() -> None:
    for bad in ({"nodes": 0}, {"nodes": 65}, {"processes_per_node": 0}, {"ranks": 2}):
        with pytest.raises(ValueError):
            spec(**bad)


def test_one_process_is_always_fine() -> None:
    assert distributed_problems("fw", DistributedSupport(), spec(batch=7)) == []


def test_cpu_processes_only_where_the_framework_runs_them() -> None:
    assert distributed_problems("timm", EVERYTHING, spec(processes_per_node=2)) == []
    refused = fields(distributed_problems("yolo", GPUS_ONLY, spec(processes_per_node=2)))
    problem = refused["distributed.processes_per_node"]
    assert "CUDA devices only" in problem["message"]
    assert problem["allowed"] == ["1 on the CPU", "resources.gpu = 2 (one process per GPU)"]
    assert distributed_problems("yolo", GPUS_ONLY, spec(gpu=2)) == []


def test_more_processes_than_gpus_and_nodes_where_there_are_none() -> None:
    too_many = fields(distributed_problems("timm", EVERYTHING, spec(2, processes_per_node=4)))
    assert too_many["distributed.processes_per_node"]["allowed"] == ["at most resources.gpu (2)"]
    nodes = fields(distributed_problems("yolo", GPUS_ONLY, spec(2, nodes=2)))
    assert nodes["distributed.nodes"]["allowed"] == ["1"]


def test_the_global_batch_must_split_evenly() -> None:
    job = spec(batch=10, nodes=2, processes_per_node=2)
    uneven = fields(distributed_problems("timm", EVERYTHING, job))
    assert uneven["hyperparams.batch_size"]["allowed"] == ["a multiple of 4"]
    assert "2 node(s) x 2" in uneven["hyperparams.batch_size"]["message"]


def test_an_executor_places_its_nodes() -> None:
    assert executor_problems("kubernetes", 64, spec(nodes=2)) == []
    (problem,) = executor_problems("subprocess", 1, spec(nodes=2))
    assert problem["field"] == "distributed.nodes"
    assert "executor kubernetes for several nodes" in problem["allowed"]


def test_a_service_counts_its_capacity_in_processes(tmp_path) -> None:
    """A run of P processes takes P of MAX_CONCURRENT_RUNS; one that can never fit is refused."""
    plugin = replace(TOY, distributed=EVERYTHING)
    settings = ServiceSettings(MAX_CONCURRENT_RUNS=2, TRAINYARD_DATA_DIR=str(tmp_path))
    executor = SubprocessExecutor(tmp_path / "runs")
    service = TrainingService(plugin, settings, [executor])
    data = tmp_path / "data"
    data.mkdir()

    def toy(**distributed: Any) -> JobSpec:
        return spec(**distributed).model_copy(
            update={
                "framework": "toy",
                "model": "counter",
                "dataset": spec().dataset.model_copy(update={"uri": str(data)}),
            }
        )

    assert service.problems(toy(processes_per_node=2)) == []
    assert service.weight(executor, toy(processes_per_node=2)) == 2
    assert service.ranks_per_node(toy(processes_per_node=2)) == 2
    (problem,) = service.problems(toy(processes_per_node=4))
    assert problem["field"] == "distributed.processes_per_node"
    assert problem["allowed"] == ["at most 2"]
    (nodes,) = service.problems(toy(nodes=2))
    assert nodes["message"] == "the subprocess executor runs a job on at most 1 node(s), not 2"

    pooled = SubprocessExecutor(tmp_path / "pooled", gpu_pool=DevicePool(["0", "1"]))
    gpus = TrainingService(plugin, settings, [pooled])
    assert gpus.problems(toy().model_copy(update={"resources": Resources(gpu=2)})) == []
    three = fields(gpus.problems(toy().model_copy(update={"resources": Resources(gpu=3)})))
    assert three["resources.gpu"]["allowed"] == ["at most 2"]
