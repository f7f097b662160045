import pytest
from pydantic import ValidationError

from trainyard_wire.errors import describe_errors
from trainyard_wire.spec import JobSpec

BASE = {
    "framework": "timm",
    "task": "classification",
    "model": "resnet18",
    "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
}


def errors_of(spec):
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate(spec)
    return {e["field"]: e for e in describe_errors(info.value.errors(), JobSpec)}


def test_defaults_fill_a_minimal_spec():
    spec = JobSpec.model_validate(BASE)
    assert spec.hyperparams.epochs == 10
    assert spec.project == "default"
    assert spec.resources.gpu is None
    assert spec.executor is None


def test_unknown_fields_are_refused_with_the_allowed_ones_at_every_level():
    errors = errors_of({**BASE, "epochs": 3})
    assert errors["epochs"]["message"] == "unknown field"
    assert "hyperparams" in errors["epochs"]["allowed"]
    errors = errors_of({**BASE, "dataset": {**BASE["dataset"], "split": "x"}})
    assert errors["dataset.split"]["allowed"] == ["format", "uri"]


def test_values_out_of_range_name_the_field():
    errors = errors_of({**BASE, "hyperparams": {"learning_rate": 0}, "priority": 1000})
    assert "greater than 0" in errors["hyperparams.learning_rate"]["message"]
    assert "less than or equal to 100" in errors["priority"]["message"]


@pytest.mark.parametrize("project", ["../etc", "UPPER", "", "a" * 70, "with space"])
def test_project_names_that_would_break_storage_keys_are_refused(project):
    assert "project" in errors_of({**BASE, "project": project})


def test_missing_fields_are_reported():
    errors = errors_of({"framework": "timm"})
    assert {"task", "model", "dataset"} <= set(errors)
    assert errors["task"]["message"] == "field required"
