"""Server-Sent Events, parsed from the lines of a `text/event-stream` body."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: str
    id: str | None


def parse_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """Events as the standard frames them: fields up to a blank line; `:` lines are comments
    (keep-alives)."""
    event, event_id = "", None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or event:
                yield ServerEvent(event or "message", "\n".join(data), event_id)
            event, data, event_id = "", [], None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value
