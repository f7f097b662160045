"""Pretrained weights commands: seed weights into the platform's shared cache, list, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainyard_client.cli import output
from trainyard_client.cli.common import ApiKeyOption, JsonOption, UrlOption, connect
from trainyard_client.cli.views import weights_table

app = typer.Typer(
    help="Pretrained weights seeded for air-gapped clusters: upload, list, delete.",
    no_args_is_help=True,
)


@app.command()
def upload(
    context: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(help="A weights file, or a model folder (zipped on the way).", exists=True),
    ],
    framework: Annotated[str, typer.Option(help="timm, ultralytics or huggingface.")],
    model: Annotated[str, typer.Option(help="The model the weights are for, as jobs name it.")],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Seed weights; the framework's service loads them first, then they are stored."""
    with (
        connect(context, url, api_key) as client,
        output.transfer_bar(f"upload {path.name}") as progress,
    ):
        weights = client.upload_weights(path, framework, model, progress=progress)
    output.print_result([weights], as_json, weights_table)


@app.command("list")
def list_weights(
    context: typer.Context,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Every seeded model's weights."""
    with connect(context, url, api_key) as client:
        weights = client.list_weights()
    output.print_result(weights, as_json, weights_table)


@app.command()
def delete(
    context: typer.Context,
    weights_id: Annotated[str, typer.Argument(help="Weights id (w-…).")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete seeded weights (refused while a queued or running job needs them)."""
    with connect(context, url, api_key) as client:
        client.delete_weights(weights_id)
    output.stdout().print(f"deleted {weights_id}", markup=False)
