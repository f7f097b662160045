"""Printing: JSON for scripts, rich tables and bars for people, errors on stderr.

Live displays (bars, spinners) are drawn only on a terminal; piped output gets plain lines,
and `--json` output is plain JSON with nothing else on stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from trainyard_client.errors import ApiError, TrainyardError
from trainyard_client.transfers import Progress as ProgressCallback

STATE_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "lost": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "starting": "blue",
    "queued": "dim",
}
T = TypeVar("T")

PIPE_WIDTH = 200  # rich wraps at 80 columns off a terminal; tables in logs need more


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=PIPE_WIDTH)
    return console


def stdout() -> Console:
    return _console()


def stderr() -> Console:
    return _console(stderr=True)


def as_json(data: Any) -> Any:
    """JSON-ready data: the client's models dumped as the gateway sent them, lists and dicts of
    them too."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [as_json(each) for each in data]
    if isinstance(data, dict):
        return {key: as_json(value) for key, value in data.items()}
    return data


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(as_json(data), indent=2) + "\n")
    sys.stdout.flush()


def print_result(data: T, json_only: bool, view: Callable[[T], RenderableType]) -> None:
    """A command's answer: JSON for scripts with --json, else `view` of it for people."""
    if json_only:
        print_json(data)
    else:
        stdout().print(view(data))


def print_error(error: TrainyardError) -> None:
    console = stderr()
    if isinstance(error, ApiError):
        label, lines = f"error ({error.status} {error.error}): ", error.describe()
    else:
        label, lines = "error: ", [str(error)]
    console.print(Text.assemble((label, "bold red"), lines[0]))
    for line in lines[1:]:
        console.print(Text("  " + line))


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_metrics(metrics: dict[str, Any] | None) -> str:
    return "  ".join(f"{k}={format_value(v)}" for k, v in (metrics or {}).items())


def format_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_time(stamp: datetime | None) -> str:
    """A timestamp to the second, as `2025-01-31 12:00:00`."""
    return stamp.strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@contextmanager
def transfer_bar(description: str) -> Iterator[ProgressCallback]:
    """A byte progress bar on stderr (only on a terminal); yields the client's callback."""
    console = stderr()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
