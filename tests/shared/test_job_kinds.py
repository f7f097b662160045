"""A job's kind in the spec: train by default; export and evaluate name the trained model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from trainyard_wire.spec import JobSpec

BASE: dict[str, Any] = {
    "framework": "timm",
    "task": "classification",
    "model": "resnet18",
    "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
}
SOURCE = {"job_id": "job-abc", "checkpoint": "best"}


def test_a_job_trains_unless_it_says_otherwise() -> None:
    spec = JobSpec.model_validate(BASE)
    assert (spec.kind, spec.source, spec.export) == ("train", None, None)


def test_an_export_names_its_model_and_format() -> None:
    spec = JobSpec.model_validate(
        {**BASE, "kind": "export", "source": SOURCE, "export": {"format": "onnx"}}
    )
    assert spec.source is not None and spec.source.checkpoint == "best"
    assert spec.export is not None and (spec.export.atol, spec.export.max_images) == (1e-3, 32)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": SOURCE}, "source and export are for kind export or evaluate"),
        ({"kind": "export", "export": {"format": "onnx"}}, "needs source"),
        ({"kind": "export", "source": SOURCE}, "export settings go with kind export"),
        (
            {"kind": "evaluate", "source": SOURCE, "export": {"format": "onnx"}},
            "export settings go with kind export",
        ),
    ],
)
def test_fields_that_do_not_fit_the_kind_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        JobSpec.model_validate({**BASE, **fields})


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValidationError, match="'onnx' or 'torchscript'"):
        JobSpec.model_validate(
            {**BASE, "kind": "export", "source": SOURCE, "export": {"format": "tflite"}}
        )


def test_an_export_or_evaluation_runs_the_module_beside_train_py() -> None:
    from trainyard_servicekit import FrameworkPlugin

    platform = FrameworkPlugin(name="timm", tasks=dict)
    assert platform.module_for("train") == "trainyard_timm.train"
    assert platform.module_for("evaluate") == "trainyard_timm.evaluate"
    elsewhere = FrameworkPlugin(
        name="toy", tasks=dict, default_port=8009, train_module="toy_framework.train"
    )
    assert elsewhere.module_for("export") == "toy_framework.export"
