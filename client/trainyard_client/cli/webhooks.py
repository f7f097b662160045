"""Webhook commands: register a URL for job events, list, delete, and see its deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from trainyard_client.cli import output
from trainyard_client.cli.common import ApiKeyOption, JsonOption, UrlOption, connect
from trainyard_client.cli.views import deliveries_table, webhook_detail, webhooks_table
from trainyard_wire.webhooks import WEBHOOK_EVENTS

app = typer.Typer(
    help="Webhooks: tell a URL about job events (signed, retried).", no_args_is_help=True
)

WebhookId = Annotated[str, typer.Argument(help="Webhook id (wh-…).")]


@app.command()
def create(
    context: typer.Context,
    target: Annotated[str, typer.Argument(metavar="URL", help="http:// or https:// URL.")],
    project: Annotated[
        str | None, typer.Option(help="Only this project's jobs (default: every project).")
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help=f"An event to send, repeatable: {', '.join(WEBHOOK_EVENTS)} "
            "(default: running and every final state).",
        ),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Register a URL; prints its secret, which is never shown again."""
    with connect(context, url, api_key) as client:
        created = client.create_webhook(target, project=project, events=event)
    if as_json:
        output.print_json(created)
        return
    output.stdout().print(webhook_detail(created))
    output.stderr().print(
        "keep the secret: it signs every delivery (X-Trainyard-Signature) and is not shown again",
        markup=False,
    )


@app.command("list")
def list_webhooks(
    context: typer.Context,
    project: Annotated[str | None, typer.Option(help="Only this project's webhooks.")] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Registered webhooks (without their secrets)."""
    with connect(context, url, api_key) as client:
        webhooks = client.list_webhooks(project=project)
    output.print_result(webhooks, as_json, webhooks_table)


@app.command()
def delete(
    context: typer.Context,
    webhook_id: WebhookId,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete a webhook; its pending deliveries are dropped."""
    with connect(context, url, api_key) as client:
        client.delete_webhook(webhook_id)
    output.stdout().print(f"deleted {webhook_id}", markup=False)


@app.command()
def deliveries(
    context: typer.Context,
    webhook_id: WebhookId,
    status: Annotated[
        str | None, typer.Option(help="Only deliveries that are pending, delivered or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A webhook's deliveries, newest first: status, tries, last error, next try."""
    with connect(context, url, api_key) as client:
        page = client.webhook_deliveries(webhook_id, status=status, limit=limit)
    output.print_result(page, as_json, lambda found: deliveries_table(found.items))
