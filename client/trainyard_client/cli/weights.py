"""Pretrained weights commands: seed weights into the platform's shared cache, list, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trainyard_client.cli import output
from trainyard_client.cli.common import ApiKeyOption, JsonOption, UrlOption, connect
from trainyard_client.cli.output import format_bytes, format_time
from trainyard_wire.weights import WeightsView

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
    if as_json:
        output.print_json(weights)
    else:
        output.stdout().print(weights_table([weights]))


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
    if as_json:
        output.print_json(weights)
    else:
        output.stdout().print(weights_table(weights))


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


def weights_table(weights: list[WeightsView]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("ID", "FRAMEWORK", "MODEL", "SIZE", "SHA256", "CREATED"):
        table.add_column(column, no_wrap=True)
    for each in weights:
        table.add_row(
            each.id,
            each.framework,
            each.model,
            format_bytes(each.size),
            each.sha256[:12],
            format_time(each.created_at),
        )
    return table
