"""Dataset commands: upload a zip or a folder, register a location, list, show, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainyard_client.cli import output
from trainyard_client.cli.common import ApiKeyOption, JsonOption, UrlOption, connect
from trainyard_client.cli.views import dataset_detail, datasets_table
from trainyard_wire.datasets import DatasetView

app = typer.Typer(help="Datasets: upload, register, list, show, delete.", no_args_is_help=True)

DatasetId = Annotated[str, typer.Argument(help="Dataset id (ds-…).")]
NameOption = Annotated[str | None, typer.Option(help="A label for the dataset.")]


@app.command()
def upload(
    context: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="A dataset zip, or a folder (zipped on the way).", exists=True),
    ],
    name: NameOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Upload a dataset; the gateway checks it and answers with its id."""
    with (
        connect(context, url, api_key) as client,
        output.transfer_bar(f"upload {path.name}") as progress,
    ):
        dataset = client.upload_dataset(path, name=name, progress=progress)
    _print(dataset, as_json)


@app.command()
def register(
    context: typer.Context,
    uri: Annotated[str, typer.Argument(help="s3://bucket/prefix or file:///absolute/path")],
    name: NameOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Register data already in storage (checked, not copied)."""
    with connect(context, url, api_key) as client:
        dataset = client.register_dataset(uri, name=name)
    _print(dataset, as_json)


@app.command("list")
def list_datasets(
    context: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Datasets, newest first."""
    with connect(context, url, api_key) as client:
        datasets = client.list_datasets(limit=limit)
    output.print_result(datasets, as_json, datasets_table)


@app.command()
def show(
    context: typer.Context,
    dataset_id: DatasetId,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """One dataset: format, location, classes and image counts."""
    with connect(context, url, api_key) as client:
        dataset = client.get_dataset(dataset_id)
    _print(dataset, as_json)


@app.command()
def delete(
    context: typer.Context,
    dataset_id: DatasetId,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete a dataset (refused while a queued or running job uses it)."""
    with connect(context, url, api_key) as client:
        client.delete_dataset(dataset_id)
    output.stdout().print(f"deleted {dataset_id}", markup=False)


def _print(dataset: DatasetView, as_json: bool) -> None:
    output.print_result(dataset, as_json, dataset_detail)
