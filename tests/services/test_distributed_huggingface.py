"""A Hugging Face job over two CPU processes (gloo) through the platform: Trainer under the
launcher does DistributedDataParallel itself; the job still speaks with one voice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.test_huggingface import TINY_VIT
from tests.support.jobs import FINAL_STATES, log_lines, metric_epochs, submit, wait_for
from trainyard_dev.synthetic import make_classification

pytestmark = pytest.mark.e2e

# ViT has no BatchNorm: two ranks of the same global batch take the same steps as one process
# but for the order the samplers deal the images in. On 12 validation images, the accuracies
# of the two runs may differ by this much.
ACCURACY_TOLERANCE = 0.25


def test_two_ranks_train_as_one_job_with_one_voice(module_processes, tmp_path) -> None:
    data = make_classification(tmp_path / "shapes", train_per_class=8, val_per_class=4, size=32)
    _, hf_url = module_processes.service("huggingface", HEARTBEAT_INTERVAL="1")
    url = module_processes.gateway(HUGGINGFACE_SERVICE_URL=hf_url).url

    def spec(processes: int) -> dict[str, Any]:
        return {
            "framework": "huggingface",
            "task": "classification",
            "model": "vit",
            "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
            "hyperparams": {"epochs": 2, "batch_size": 8, "image_size": 32, "learning_rate": 0.002},
            "options": {"config_overrides": TINY_VIT},
            "resources": {"gpu": 0},
            "distributed": {"processes_per_node": processes},
            "project": "tests",
        }

    two, one = submit(url, spec(2)), submit(url, spec(1))
    two = wait_for(url, two["id"], FINAL_STATES, 900)
    one = wait_for(url, one["id"], FINAL_STATES, 900)
    assert two["state"] == "succeeded", two["error"]
    assert one["state"] == "succeeded", one["error"]
    assert metric_epochs(url, two["id"]) == [1, 2]  # not one per rank
    lines = log_lines(url, two["id"])
    for rank in (0, 1):
        assert any(line.startswith(f"[rank {rank}] [huggingface]") for line in lines), lines
    accuracy = two["metrics"]["accuracy"], one["metrics"]["accuracy"]
    print(f"accuracy: 2 processes {accuracy[0]}, 1 process {accuracy[1]}")
    assert abs(accuracy[0] - accuracy[1]) <= ACCURACY_TOLERANCE
    assert {a["name"] for a in two["artifacts"]} == {"best.pt", "last.pt"}
