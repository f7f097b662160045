"""What a framework tells the service about pretrained weights: the name a job's weights go by
in the tiers, whether its own source publishes them, and how it loads a folder of them.

The service refuses `pretrained: true` at submission for a model whose framework publishes no
weights and that nobody seeded into object storage (`POST /v1/weights`), and checks seeded
weights by loading them before they are stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainyard_runtime.storage import StorageError, open_storage
from trainyard_runtime.weights.manifest import ManifestError
from trainyard_runtime.weights.shared_store import SharedWeights
from trainyard_wire.spec import JobSpec


class WeightsInvalid(ValueError):
    """Weights the framework cannot load for the model; the message says why."""


@dataclass(frozen=True)
class WeightsSupport:
    # The name of a job's weights in the tiers (`yolo11n` for `yolo11n.yaml`); also the name a
    # seeded upload gives.
    name_for: Callable[[str], str]
    # Whether the framework's own source publishes weights for a job's model (tier 3).
    published: Callable[[JobSpec], bool]
    # Load a folder of weights for a model as a run would; raise WeightsInvalid if it cannot.
    load: Callable[[Path, str], None]


def pretrained_problems(
    framework: str, support: WeightsSupport | None, spec: JobSpec, storage_uri: str
) -> list[dict[str, Any]]:
    """`pretrained: true` on a model no tier could ever serve: one problem; else none."""
    if not spec.hyperparams.pretrained or spec.resume_from is not None:
        return []
    if support is not None and support.published(spec):
        return []
    name = support.name_for(spec.model) if support is not None else spec.model
    if support is not None and _seeded(framework, name, storage_uri):
        return []
    return [
        {
            "field": "hyperparams.pretrained",
            "message": f"{framework} publishes no pretrained weights for {spec.model!r} and none "
            f"are seeded for {name!r} in object storage",
            "allowed": [
                "hyperparams.pretrained=false",
                f"seed weights first: POST /v1/weights (framework {framework}, model {name})",
            ],
        }
    ]


def _seeded(framework: str, name: str, storage_uri: str) -> bool:
    storage = open_storage(storage_uri)
    try:
        return SharedWeights(storage).manifest(framework, name) is not None
    except (StorageError, ManifestError, OSError, ValueError):
        return False  # unreadable storage: the run would not find them either
    finally:
        storage.close()
