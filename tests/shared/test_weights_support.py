"""`pretrained: true` at submission: refused only for a model no tier could ever serve."""

from __future__ import annotations

from pathlib import Path

from trainyard_runtime.storage import open_storage
from trainyard_runtime.weights.manifest import Manifest
from trainyard_runtime.weights.shared_store import SharedWeights
from trainyard_servicekit.weights_support import WeightsSupport, pretrained_problems
from trainyard_wire.spec import JobSpec

SUPPORT = WeightsSupport(
    name_for=lambda model: model.removesuffix(".yaml"),
    published=lambda spec: spec.model.startswith("public"),
    load=lambda folder, model: None,
)


def spec(model: str, pretrained: bool = True) -> JobSpec:
    return JobSpec.model_validate(
        {
            "framework": "toy",
            "task": "classification",
            "model": model,
            "dataset": {"uri": "/data", "format": "imagefolder"},
            "hyperparams": {"pretrained": pretrained},
        }
    )


def test_a_model_without_published_or_seeded_weights_is_refused_naming_what_would_do(tmp_path):
    uri = (tmp_path / "storage").as_uri()
    assert pretrained_problems("toy", SUPPORT, spec("public-net"), uri) == []
    assert pretrained_problems("toy", SUPPORT, spec("private.yaml", pretrained=False), uri) == []
    (problem,) = pretrained_problems("toy", SUPPORT, spec("private.yaml"), uri)
    assert problem["field"] == "hyperparams.pretrained"
    assert "none are seeded for 'private'" in problem["message"]
    assert "POST /v1/weights (framework toy, model private)" in problem["allowed"][1]
    # A framework with no weights support at all: only seeded weights could serve, and none can.
    assert pretrained_problems("toy", None, spec("public-net"), uri)


def test_seeded_weights_make_the_model_acceptable(tmp_path: Path):
    uri = (tmp_path / "storage").as_uri()
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "w.pt").write_bytes(b"weights")
    manifest = Manifest.of_folder(folder, "toy", "private", "upload w.pt")
    SharedWeights(open_storage(uri)).publish(folder, manifest)
    assert pretrained_problems("toy", SUPPORT, spec("private.yaml"), uri) == []
