"""What the public API answers about a dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class DatasetView(BaseModel):
    id: str
    name: str | None
    format: str
    uri: str
    source: str
    summary: dict[str, Any]  # classes, images per split, format specifics
    content_hash: str | None
    size_bytes: int
    created_at: datetime
    problems: list[dict[str, Any]] = Field(default_factory=list)
