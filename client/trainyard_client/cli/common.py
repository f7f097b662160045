"""What every command shares: connection options, `--json`, and exit codes."""

from __future__ import annotations

from typing import Annotated

import typer

from trainyard_client.client import Client
from trainyard_client.errors import (
    ConfigError,
    GatewayUnreachable,
    InvalidRequest,
    TrainyardError,
    WaitTimeout,
)

# Exit codes (docs/cli.md lists them).
OK = 0
JOB_FAILED = 1  # the job failed or was lost
INPUT_ERROR = 2  # the gateway refused the request (4xx), or the command line was wrong
UNREACHABLE = 3  # no answer from the gateway
GATEWAY_ERROR = 4  # the gateway failed (5xx), is not ready, or sent a corrupt download
LOCAL_ERROR = 5  # a local file could not be read or written
WAIT_TIMED_OUT = 124  # like timeout(1): still running when --timeout ran out
CANCELLED = 130  # the job was cancelled (or following it was interrupted with Ctrl-C)

OUTCOME_EXIT_CODES = {
    "succeeded": OK,
    "failed": JOB_FAILED,
    "lost": JOB_FAILED,
    "cancelled": CANCELLED,
}

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Gateway URL (default: $TRAINYARD_URL, else http://127.0.0.1:8000)",
        show_default=False,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", help="API key (default: $TRAINYARD_API_KEY)", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]


class Connection:
    """`--url`/`--api-key` given before the command: the fallback for every command."""

    def __init__(self, url: str | None, api_key: str | None) -> None:
        self.url, self.api_key = url, api_key


def connect(context: typer.Context, url: str | None, api_key: str | None) -> Client:
    """A client from the command's options, else the global ones, else the environment."""
    root = context.find_object(Connection)
    return Client(url or (root.url if root else None), api_key or (root.api_key if root else None))


def outcome_exit_code(state: str) -> int:
    return OUTCOME_EXIT_CODES.get(state, JOB_FAILED)


def exit_code_for(error: TrainyardError) -> int:
    if isinstance(error, GatewayUnreachable):
        return UNREACHABLE
    if isinstance(error, WaitTimeout):
        return WAIT_TIMED_OUT
    if isinstance(error, InvalidRequest | ConfigError):
        return INPUT_ERROR
    return GATEWAY_ERROR  # a 5xx, or a download that does not match its checksum
