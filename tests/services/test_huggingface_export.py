"""Exporting a trained transformers classifier (a tiny ViT): ONNX and TorchScript pass their
parity check against the PyTorch model, and a perturbed ONNX file fails it with export_mismatch.

The export module runs as its service runs it (`python -m trainyard_huggingface.export`).
"""

from __future__ import annotations

import pytest

from tests.services.test_huggingface import run_train, spec
from tests.support.exports import (
    check_with_broken_weight,
    export_spec,
    exported_file,
    final_status,
    run_export,
)
from tests.support.train_py import checkpoint, of_type, sha256
from trainyard_dev.synthetic import make_classification

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hf-export")
    data = make_classification(tmp / "shapes", train_per_class=6, val_per_class=3, size=32)
    job = spec(data, hyperparams={"epochs": 1})
    code, _, output, _ = run_train(tmp, "job-trained", job, timeout=600)
    assert code == 0, output
    return tmp, data, job


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_passes_its_parity_check(trained, fmt: str) -> None:
    tmp, _, job = trained
    job_id = f"job-export-{fmt}"
    code, events, output, _ = run_export(
        "huggingface", tmp, job_id, export_spec(job, "job-trained", fmt)
    )
    assert code == 0, output
    final = final_status(events)
    assert final["state"] == "succeeded", output
    parity = final["result"]["parity"]
    assert parity["passed"] is True and parity["images"] == 8
    assert parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] <= 1e-3
    assert parity["outputs"][0]["shape"] == [8, 3]  # logits of three classes per image
    name = f"model.{fmt}"
    (artifact,) = of_type(events, "artifact")
    assert (artifact["name"], artifact["kind"]) == (name, "export")
    assert artifact["sha256"] == sha256(exported_file(tmp, job_id, name))


def test_a_perturbed_onnx_file_fails_with_export_mismatch(trained) -> None:
    tmp, data, job = trained
    job_spec = export_spec(job, "job-trained", "onnx")
    code, _, output, _ = run_export("huggingface", tmp, "job-export-to-break", job_spec)
    assert code == 0, output
    answers = check_with_broken_weight(
        "huggingface",
        checkpoint(tmp, "job-trained", "best.pt"),
        exported_file(tmp, "job-export-to-break", "model.onnx"),
        data,
        job_spec,
    )
    assert answers["as_exported"]["reason"] is None
    assert answers["broken"]["reason"] == "export_mismatch"
