"""Gateway commands: the frameworks it routes to, whether it is ready, its model registry."""

from __future__ import annotations

import typer
from rich.text import Text

from trainyard_client.cli import output
from trainyard_client.cli.common import GATEWAY_ERROR, ApiKeyOption, JsonOption, UrlOption, connect
from trainyard_client.cli.views import frameworks_table, headed_table, models_table

app = typer.Typer()


@app.command()
def frameworks(
    context: typer.Context,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Every training service: health, device, tasks with dataset formats, models, URL."""
    with connect(context, url, api_key) as client:
        services = client.frameworks()
    output.print_result(services, as_json, frameworks_table)


@app.command()
def models(
    context: typer.Context,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Registered models and their versions (fine-tune from one: --init-from NAME@VERSION)."""
    with connect(context, url, api_key) as client:
        registered = client.models()
    output.print_result(registered, as_json, lambda found: models_table(found.items))


@app.command()
def status(
    context: typer.Context,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Whether the gateway is ready (exit 4 if not), and each service's last health check."""
    with connect(context, url, api_key) as client:
        ready = client.ready()
        where = client.config.url
    if as_json:
        output.print_json(ready)
    else:
        console = output.stdout()
        verdict = Text("ready", "green") if ready.get("ready") else Text("not ready", "red")
        console.print(Text.assemble(f"gateway {where} ", verdict))
        table = headed_table("SERVICE", "HEALTHY", "URL", "ERROR")
        for name, service in sorted((ready.get("services") or {}).items()):
            healthy = Text("yes", "green") if service.get("healthy") else Text("no", "red")
            table.add_row(name, healthy, service.get("url") or "-", service.get("error") or "")
        console.print(table)
    if not ready.get("ready"):
        raise typer.Exit(GATEWAY_ERROR)
