"""`trainyard export` and `trainyard evaluate`: relay the gateway's refusals with exit code 2
(the jobs themselves run in tests/e2e/test_after_training.py, on a framework that has them)."""

from __future__ import annotations

from trainyard_client import Client


def test_export_relays_why_a_job_cannot_be_exported(
    cli, api: Client, toy_spec_for, queued_spec
) -> None:
    job = api.create_job(toy_spec_for(epochs=1))
    api.wait(job.id, timeout=60)
    # The toy framework trains but offers no export format: its service says so.
    refused = cli("export", job.id, "--format", "onnx", "--checkpoint", "last")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "422" in refused.stderr and "does not export classification" in refused.stderr
    no_evaluation = cli("evaluate", job.id)
    assert no_evaluation.returncode == 2
    assert "422" in no_evaluation.stderr and "does not evaluate" in no_evaluation.stderr
    # A job that has not trained has no model yet.
    queued = api.create_job(queued_spec())
    early = cli("export", queued.id)
    assert early.returncode == 2
    assert "409" in early.stderr and "only a succeeded training job" in early.stderr
    api.cancel_job(queued.id)
