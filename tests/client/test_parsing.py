"""Pieces of the client that need no gateway: settings, event frames, job files."""

from __future__ import annotations

import pytest
import typer

from trainyard_client import ClientConfig, ConfigError
from trainyard_client.cli.job_file import build_spec, load_job_file, parse_init_from
from trainyard_client.sse import ServerEvent, parse_events


def test_settings_come_from_arguments_then_the_environment():
    env = {"TRAINYARD_URL": "http://gw:8000/", "TRAINYARD_API_KEY": "k", "TRAINYARD_RETRIES": "5"}
    config = ClientConfig.from_env(environ=env)
    assert (config.url, config.api_key, config.retries) == ("http://gw:8000", "k", 5)
    assert ClientConfig.from_env("https://other", "k2", environ=env).api_key == "k2"
    assert ClientConfig.from_env(environ={}).url == "http://127.0.0.1:8000"
    with pytest.raises(ConfigError, match="must start with http"):
        ClientConfig.from_env(environ={"TRAINYARD_URL": "gw:8000"})
    with pytest.raises(ConfigError, match="TRAINYARD_TIMEOUT='soon' is not a number"):
        ClientConfig.from_env(environ={"TRAINYARD_TIMEOUT": "soon"})


def test_event_frames_with_comments_and_multi_line_data():
    lines = [": keep-alive", "", "id: 7", "event: log", "data: {\"a\":", "data: 1}", "",
             "event: end", "data: {}", ""]  # fmt: skip
    assert list(parse_events(lines)) == [
        ServerEvent("log", '{"a":\n1}', "7"),
        ServerEvent("end", "{}", None),
    ]


def test_job_file_values_under_flags_and_options(tmp_path):
    (tmp_path / "shapes").mkdir()
    job_file = tmp_path / "job.yaml"
    job_file.write_text(
        "framework: timm\ndataset: {uri: shapes, format: imagefolder}\n"
        "hyperparams: {epochs: 5}\noptions: {drop_rate: 0.1}\n"
    )
    spec = build_spec(
        load_job_file(job_file),
        {"hyperparams.epochs": 2, "hyperparams.batch_size": None, "model": "resnet18"},
        ["mixup=0.2", "schedule.kind=cosine", "name=plain text", "flags=[1, 2]"],
    )
    assert spec == {
        "framework": "timm",
        "model": "resnet18",
        "dataset": {"uri": str(tmp_path / "shapes"), "format": "imagefolder"},
        "hyperparams": {"epochs": 2},
        "options": {
            "drop_rate": 0.1,
            "mixup": 0.2,
            "schedule": {"kind": "cosine"},
            "name": "plain text",
            "flags": [1, 2],
        },
    }
    job_file.write_text("- just\n- a list\n")
    with pytest.raises(typer.BadParameter, match="must hold one job spec"):
        load_job_file(job_file)


def test_init_from_names_a_job_a_registered_version_or_a_checkpoint():
    assert parse_init_from("job-abc") == {"job": "job-abc", "checkpoint": "best"}
    assert parse_init_from("job-abc:last") == {"job": "job-abc", "checkpoint": "last"}
    assert parse_init_from("digits-resnet@3") == {"model": "digits-resnet", "version": 3}
    key = "checkpoints/projects/p/jobs/job-abc/best.pt"
    assert parse_init_from(key) == {"uri": key}
    assert parse_init_from("s3://bucket/x/best.pt") == {"uri": "s3://bucket/x/best.pt"}
