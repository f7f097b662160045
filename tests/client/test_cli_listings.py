"""The `trainyard` listing commands: a table for people, the gateway's JSON with --json."""

from __future__ import annotations

import json


def test_gateway_listings_print_a_table_or_the_json(cli):
    frameworks = cli("frameworks")
    assert frameworks.returncode == 0, frameworks.stderr
    heading, *rows = frameworks.stdout.splitlines()
    assert heading.split()[:3] == ["FRAMEWORK", "HEALTHY", "DEVICE"]
    assert any(row.split()[:2] == ["toy", "yes"] for row in rows)
    services = json.loads(cli("frameworks", "--json").stdout)
    assert [each["framework"] for each in services if each["framework"] == "toy"] == ["toy"]

    status = cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    verdict, heading, *rows = status.stdout.splitlines()
    assert verdict.startswith("gateway http://") and verdict.endswith(" ready")
    assert heading.split() == ["SERVICE", "HEALTHY", "URL", "ERROR"]
    assert any(row.split()[:2] == ["toy", "yes"] for row in rows)

    models = cli("models")
    assert models.returncode == 0, models.stderr
    assert models.stdout.split()[:3] == ["MODEL", "VERSION", "JOB"]
    assert json.loads(cli("models", "--json").stdout)["items"] == []

    weights = cli("weights", "list")
    assert weights.returncode == 0, weights.stderr
    assert weights.stdout.split() == ["ID", "FRAMEWORK", "MODEL", "SIZE", "SHA256", "CREATED"]
    assert json.loads(cli("weights", "list", "--json").stdout) == []


def test_datasets_list_and_show_print_a_table_or_the_json(cli, dataset_dir):
    uploaded = cli("datasets", "upload", str(dataset_dir), "--name", "listed", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    dataset = json.loads(uploaded.stdout)

    listed = cli("datasets", "list")
    assert listed.returncode == 0, listed.stderr
    heading, *rows = listed.stdout.splitlines()
    assert heading.split()[:3] == ["ID", "NAME", "FORMAT"]
    assert [row.split()[:3] for row in rows if dataset["id"] in row.split()] == [
        [dataset["id"], "listed", "imagefolder"]
    ]
    as_json = json.loads(cli("datasets", "list", "--json").stdout)
    assert dataset["id"] in [each["id"] for each in as_json]

    shown = cli("datasets", "show", dataset["id"])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["id", dataset["id"]]
    assert ["summary", "train=6"] in [line.split()[:2] for line in lines]
    assert json.loads(cli("datasets", "show", dataset["id"], "--json").stdout) == dataset
