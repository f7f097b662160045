"""The run's environment: what a service writes is what train.py reads, on both tiers."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainyard_runtime.run_environment import RunEnvironment, RunVariable
from trainyard_wire.spec import JobSpec

SPEC = JobSpec.model_validate(
    {
        "framework": "timm",
        "task": "classification",
        "model": "resnet18",
        "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
    }
)


def test_to_env_and_from_env_round_trip(tmp_path: Path) -> None:
    env = RunEnvironment(
        job_id="job-1",
        spec=SPEC,
        callback_url="http://gateway/events",
        callback_token="secret",
        storage_uri="s3://bucket/runs",
        work_dir=tmp_path / "work",
        heartbeat_interval=2.5,
        checkpoint_interval=60.0,
        exit_code_file=tmp_path / "exit_code",
        mlflow_tracking_uri="http://mlflow:5000",
        mlflow_run_id="run-7",
        weights_cache_dir=tmp_path / "weights",
        hf_endpoint="http://127.0.0.1:9/hub",
        hf_token="hf_secret",
        ultralytics_assets_url="http://127.0.0.1:9/assets",
    )
    written = env.to_env()
    assert set(written) == {str(name) for name in RunVariable} - {"JOB_SPEC_PATH"} | {
        "PYTHONUNBUFFERED"
    }
    assert RunEnvironment.from_env(written) == env


def test_unset_values_are_written_empty_and_read_as_unset() -> None:
    env = RunEnvironment("job-2", SPEC, None, None, "file:///data/storage")
    written = env.to_env()
    assert written["MLFLOW_RUN_ID"] == "" and written["CALLBACK_TOKEN"] == ""
    read = RunEnvironment.from_env(written)
    assert read.mlflow_run_id is None and read.callback_url is None and read.work_dir is None
    assert read.heartbeat_interval == 5.0 and read.mlflow_experiment_prefix == "trainyard/"
    # huggingface_hub would read an empty HF_ENDPOINT as the endpoint "": left out instead.
    assert "HF_ENDPOINT" not in written and "HF_TOKEN" not in written
    assert read.hf_endpoint is None and read.weights_access().cache_dir.name == "weights"


def test_the_hub_token_never_shows_in_a_printed_environment() -> None:
    env = RunEnvironment("job-2", SPEC, None, None, "file:///s", hf_token="hf_secret")
    assert "hf_secret" not in repr(env) and "hf_secret" not in repr(env.weights_access())


def test_a_service_passes_its_tuning_on() -> None:
    service_env = {"CHECKPOINT_INTERVAL_SECONDS": "30", "MLFLOW_TRACKING_URI": "http://m:5000"}
    env = RunEnvironment.for_run(
        service_env,
        job_id="job-3",
        spec=SPEC,
        callback_url=None,
        callback_token=None,
        storage_uri="file:///s",
        heartbeat_interval=1.0,
    )
    assert (env.checkpoint_interval, env.mlflow_tracking_uri) == (30.0, "http://m:5000")
    assert env.heartbeat_interval == 1.0  # given by the service beats its environment


def test_the_spec_from_a_file_for_a_run_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(SPEC.model_dump_json())
    assert RunEnvironment.from_env({"JOB_SPEC_PATH": str(path)}).spec == SPEC
    with pytest.raises(SystemExit, match="JOB_SPEC"):
        RunEnvironment.from_env({})
