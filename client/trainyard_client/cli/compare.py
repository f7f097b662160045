"""`trainyard compare JOB JOB…`: what differs in the jobs' specs, and their final and best
metrics side by side (the dashboard's compare page, as tables)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from trainyard_client.cli import output
from trainyard_client.cli.common import ApiKeyOption, JsonOption, UrlOption, connect
from trainyard_client.compare import Comparison, compare, is_minimised

app = typer.Typer()


@app.command("compare")
def compare_command(
    context: typer.Context,
    job_ids: Annotated[
        list[str],
        typer.Argument(metavar="JOB…", help="Two or more job ids (job-…).", show_default=False),
    ],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Compare jobs: their spec differences, and each metric's final and best value."""
    ids = list(dict.fromkeys(job_ids))  # the same job twice compares nothing
    if len(ids) < 2:
        raise typer.BadParameter("give at least two different job ids", param_hint="JOB")
    with connect(context, url, api_key) as client:
        jobs = [client.get_job(job_id) for job_id in ids]
        metrics = [client.metrics(job_id) for job_id in ids]
    comparison = compare(jobs, metrics)
    if as_json:
        output.print_json(comparison.as_json())
    else:
        output.stdout().print(comparison_tables(comparison))


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return output.format_value(value)


def _job_columns(table: Table, comparison: Comparison) -> None:
    for job in comparison.jobs:  # names, when they differ, are a row of the spec differences
        table.add_column(job.id, no_wrap=True)


def comparison_tables(comparison: Comparison) -> RenderableType:
    specs = Table(box=None, header_style="bold")
    specs.add_column("SPEC DIFFERENCES", no_wrap=True)
    _job_columns(specs, comparison)
    for key, values in comparison.spec_differences.items():
        specs.add_row(key, *(_value(value) for value in values))
    if not comparison.spec_differences:
        specs.add_row(Text("(the specs are the same)", style="dim"))

    metrics = Table(box=None, header_style="bold")
    metrics.add_column("METRIC", no_wrap=True)
    _job_columns(metrics, comparison)
    for name, summaries in comparison.metrics.items():
        goal = "min" if is_minimised(name) else "max"
        bests = [each.best for each in summaries if each is not None and each.best is not None]
        winner = (min if goal == "min" else max)(bests) if bests else None
        metrics.add_row(
            f"{name} final",
            *(_value(each.final if each else None) for each in summaries),
        )
        metrics.add_row(
            f"{name} best ({goal})",
            *(
                Text(_value(each.best), style="bold green" if each.best == winner else "")
                if each
                else "-"
                for each in summaries
            ),
        )
    if not comparison.metrics:
        metrics.add_row(Text("(no metrics reported)", style="dim"))
    return Group(specs, Text(""), metrics)
