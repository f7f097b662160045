"""Tier 3: a framework's own source of pretrained weights (a model hub, an asset server).

Each framework names its source for a model (services/*/…); the resolver only fetches from it
into a folder and checks what arrived.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class SourceUnavailable(Exception):
    """The source could not serve the weights; the message says what was tried and why."""


class WeightsSource(Protocol):
    def describe(self) -> str:
        """Where the weights come from (a URL), for the manifest, the log and errors."""
        ...

    def fetch(self, dest: Path) -> None:
        """Download the weights' files into the empty folder `dest`, or raise SourceUnavailable."""
        ...
