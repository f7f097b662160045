"""Artifact commands: list a job's checkpoints, download them with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from trainyard_client.cli import output
from trainyard_client.cli.common import ApiKeyOption, JsonOption, UrlOption, connect
from trainyard_client.cli.views import artifacts_table

app = typer.Typer(help="A job's checkpoints: list, download.", no_args_is_help=True)


@app.command("list")
def list_artifacts(
    context: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A job's artifacts with size and sha256."""
    with connect(context, url, api_key) as client:
        artifacts = client.artifacts(job_id)
    output.print_result(artifacts, as_json, artifacts_table)


@app.command()
def download(
    context: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    name: Annotated[
        str | None,
        typer.Argument(help="Artifact name, e.g. best.pt or just best (default: all of them)"),
    ] = None,
    destination: Annotated[
        str,
        typer.Option("--output", "-o", help="A folder (ending in / or existing), or a file name."),
    ] = ".",
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Download artifacts (checksums checked); prints where each was saved."""
    with connect(context, url, api_key) as client:
        names = [name] if name else [a.name for a in client.artifacts(job_id)]
        if not names:
            output.stderr().print(f"{job_id} has no artifacts yet", markup=False)
        target = Path(destination)
        if len(names) > 1 or destination.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        saved = []
        for each in names:
            with output.transfer_bar(each) as progress:
                saved.append(str(client.download_artifact(job_id, each, target, progress)))
    if as_json:
        output.print_json(saved)
    else:
        for path in saved:
            output.stdout().print(path, markup=False)
