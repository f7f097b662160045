"""The `trainyard` command-line tool: jobs, logs, artifacts, comparisons, datasets, webhooks,
frameworks.

Exit codes: 0 done (or the job succeeded), 1 the job failed or was lost, 2 the request was
refused (4xx) or the command line was wrong, 3 the gateway is unreachable, 4 the gateway
failed (5xx), is not ready or sent a corrupt download, 5 a local file could not be read or
written, 124 a --timeout ran out, 130 the job was cancelled.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from trainyard_client.cli import artifacts, compare, datasets, jobs, system, webhooks, weights
from trainyard_client.cli.common import (
    LOCAL_ERROR,
    ApiKeyOption,
    Connection,
    UrlOption,
    exit_code_for,
)
from trainyard_client.cli.output import print_error
from trainyard_client.errors import TrainyardError

app = typer.Typer(
    name="trainyard",
    help="Train vision models on a Trainyard gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.registered_commands += (
    jobs.app.registered_commands + compare.app.registered_commands + system.app.registered_commands
)
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(datasets.app, name="datasets")
app.add_typer(weights.app, name="weights")
app.add_typer(webhooks.app, name="webhooks")


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(version("trainyard-client"))
        raise typer.Exit()


@app.callback()
def connection(
    context: typer.Context,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """`--url` and `--api-key` here apply to every command (each command takes them too)."""
    context.obj = Connection(url, api_key)


def main() -> None:
    try:
        app(prog_name="trainyard")
    except TrainyardError as error:
        print_error(error)
        raise SystemExit(exit_code_for(error)) from None
    except OSError as error:  # a local file: unreadable dataset, unwritable download folder
        print_error(TrainyardError(str(error)))
        raise SystemExit(LOCAL_ERROR) from None
