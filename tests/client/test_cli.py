"""The `trainyard` executable against a real gateway and toy training service."""

from __future__ import annotations

import hashlib
import json

import httpx

from tests.client.conftest import API_KEY, run_trainyard
from tests.support.jobs import toy_spec
from tests.support.processes import free_port


def toy_flags(dataset_dir, *extra: str) -> list[str]:
    return [
        "submit",
        "--framework",
        "toy",
        "--task",
        "classification",
        "--model",
        "counter",
        "--dataset",
        str(dataset_dir),
        "--format",
        "imagefolder",
        *extra,
    ]


def test_submit_follow_shows_each_epoch_and_exits_0_on_success(cli, dataset_dir):
    done = cli(*toy_flags(dataset_dir, "--epochs", "3", "--follow"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == ["1/3", "2/3", "3/3"]
    assert "epoch 3/3  loss=0.125  accuracy=0.875" in lines
    assert lines[-1].endswith("succeeded  loss=0.125  accuracy=0.875")
    assert "\x1b[" not in done.stdout  # not a terminal: no colours, no live bar


def test_a_failing_job_exits_1_and_shows_why(cli, dataset_dir):
    done = cli(*toy_flags(dataset_dir, "--epochs", "3", "--option", "fail_at_epoch=2", "--follow"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "epoch 1/3" in done.stdout and "epoch 2/3" not in done.stdout
    assert "failed: exception toy failure at epoch 2" in done.stdout
    assert "RuntimeError: toy failure at epoch 2" in done.stdout  # the log tail


def test_cancel_then_wait_exits_130_and_resume_relays_the_refusal(cli, api, queued_spec):
    job = api.create_job(queued_spec())
    cancelled = cli("cancel", job.id)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"{job.id} cancelled"
    waited = cli("wait", job.id, "--timeout", "30")
    assert waited.returncode == 130, waited.stdout + waited.stderr
    # Cancelled before it ran, it has no checkpoint to go on from: the gateway says 409.
    refused = cli("resume", job.id)
    assert refused.returncode == 2
    assert "409" in refused.stderr and "checkpoint" in refused.stderr


def test_json_output_of_submit_show_list_is_the_gateways_json(cli, stack, dataset_dir, tmp_path):
    job_file = tmp_path / "job.yaml"
    job_file.write_text(
        "framework: toy\ntask: classification\nmodel: counter\n"
        f"dataset: {{uri: {dataset_dir}, format: imagefolder}}\n"
        "hyperparams: {epochs: 5, batch_size: 4}\noptions: {lines_per_epoch: 1}\n"
        "project: cli-json\n"
    )
    submitted = cli(
        "submit", "-f", str(job_file), "--epochs", "2", "-o", "epoch_seconds=0",
        "--follow", "--json",
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)  # the job as it ended, and nothing else
    assert job["state"] == "succeeded"
    # The file's values, with the flags laid over them.
    assert job["spec"]["hyperparams"]["epochs"] == 2
    assert job["spec"]["hyperparams"]["batch_size"] == 4
    assert job["spec"]["options"] == {"lines_per_epoch": 1, "epoch_seconds": 0}

    shown = json.loads(cli("show", job["id"], "--json").stdout)
    assert shown["progress"]["epoch"] == 2 and shown["metrics"]["loss"] == 0.25
    # The JSON the gateway sent, field for field (the client's models drop nothing).
    sent = httpx.get(
        f"{stack.url}/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert shown == sent.json()
    listed = json.loads(cli("list", "--project", "cli-json", "--json").stdout)
    assert [item["id"] for item in listed["items"]] == [job["id"]]
    assert listed["next_cursor"] is None


def test_unknown_framework_exits_2_with_the_allowed_values(cli, dataset_dir):
    refused = cli(*["keras" if arg == "toy" else arg for arg in toy_flags(dataset_dir)])
    assert refused.returncode == 2
    assert "422" in refused.stderr and "unknown framework 'keras'" in refused.stderr
    assert "allowed: huggingface, timm, toy, ultralytics" in refused.stderr
    assert refused.stdout == ""


def test_unreachable_gateway_exits_3():
    url = f"http://127.0.0.1:{free_port()}"
    done = run_trainyard("list", url=url, env={"TRAINYARD_RETRIES": "0"})
    assert done.returncode == 3
    assert f"cannot reach the gateway at {url}" in done.stderr


def test_upload_a_dataset_folder_train_on_it_and_download_the_checkpoint(
    cli, dataset_dir, tmp_path
):
    uploaded = cli("datasets", "upload", str(dataset_dir), "--name", "shapes", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    dataset = json.loads(uploaded.stdout)
    assert dataset["format"] == "imagefolder" and dataset["summary"]["images"]["train"] == 6

    # The format is looked up from the dataset id when not given.
    trained = cli(
        "submit", "--framework", "toy", "--task", "classification", "--model", "counter",
        "--dataset", dataset["id"], "--epochs", "1", "--follow", "--json",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    job = json.loads(trained.stdout)
    assert job["state"] == "succeeded" and job["spec"]["dataset"]["format"] == "imagefolder"

    downloaded = cli("artifacts", "download", job["id"], "best", "-o", str(tmp_path))
    assert downloaded.returncode == 0, downloaded.stderr
    saved = tmp_path / "best.bin"
    assert downloaded.stdout.strip() == str(saved)
    best = next(a for a in job["artifacts"] if a["name"] == "best.bin")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == best["sha256"]


def test_api_key_from_an_option(cli):
    # Every other test here sends the key from TRAINYARD_API_KEY (the gateway asks for one).
    given = cli("--api-key", API_KEY, "list", "--json", env={"TRAINYARD_API_KEY": ""})
    assert given.returncode == 0, given.stderr
    assert isinstance(json.loads(given.stdout)["items"], list)


def test_webhooks_create_list_deliveries_delete(cli):
    created = cli("webhooks", "create", "http://127.0.0.1:9/hook", "--project", "cli-hooks",
                  "--event", "running", "--event", "epoch", "--json")  # fmt: skip
    assert created.returncode == 0, created.stderr
    webhook = json.loads(created.stdout)
    assert webhook["secret"].startswith("whsec_")
    assert webhook["events"] == ["running", "epoch"]

    listed = cli("webhooks", "list", "--project", "cli-hooks")
    assert listed.returncode == 0, listed.stderr
    assert webhook["id"] in listed.stdout and "running, epoch" in listed.stdout
    assert webhook["secret"] not in listed.stdout

    deliveries = cli("webhooks", "deliveries", webhook["id"], "--json")
    assert deliveries.returncode == 0, deliveries.stderr
    assert json.loads(deliveries.stdout) == {"items": [], "next_cursor": None}

    refused = cli("webhooks", "create", "ftp://example.com/hook")
    assert refused.returncode == 2 and "http:// or https://" in refused.stderr

    assert cli("webhooks", "delete", webhook["id"]).returncode == 0
    gone = cli("webhooks", "deliveries", webhook["id"])
    assert gone.returncode == 2 and "no webhook" in gone.stderr


def test_compare_two_finished_jobs_shows_the_learning_rates_and_both_metrics(cli, api, dataset_dir):
    jobs = [
        api.create_job(
            toy_spec(dataset_dir, hyperparams={"epochs": epochs, "learning_rate": lr}, name=name)
        )
        for epochs, lr, name in ((2, 0.01, "lr-high"), (3, 0.001, "lr-low"))
    ]
    for job in jobs:
        assert api.wait(job.id, 60, poll_interval=0.1).state == "succeeded"
    ids = [job.id for job in jobs]

    shown = cli("compare", *ids)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["SPEC", "DIFFERENCES", *ids]
    assert ["hyperparams.learning_rate", "0.01", "0.001"] in [ln.split() for ln in lines]
    assert ["name", "lr-high", "lr-low"] in [ln.split() for ln in lines]
    assert not any(ln.startswith("framework") for ln in lines)  # the same in both
    # The toy's loss halves each epoch: 0.25 after two epochs, 0.125 after three.
    assert ["loss", "best", "(min)", "0.25", "0.125"] in [ln.split() for ln in lines]
    assert ["accuracy", "final", "0.75", "0.875"] in [ln.split() for ln in lines]

    answer = cli("compare", *ids, "--json")
    assert answer.returncode == 0, answer.stderr
    compared = json.loads(answer.stdout)
    assert compared["jobs"] == ids
    assert compared["spec_differences"]["hyperparams.learning_rate"] == dict(
        zip(ids, [0.01, 0.001], strict=True)
    )
    assert compared["metrics"]["loss"][ids[1]] == {"final": 0.125, "best": 0.125}

    missing = cli("compare", ids[0], "job-000000000000")
    assert missing.returncode == 2 and "404" in missing.stderr
    once = cli("compare", ids[0], ids[0])
    assert once.returncode == 2 and "two different job ids" in once.stderr
