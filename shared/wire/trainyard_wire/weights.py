"""Seeded pretrained weights: what the gateway lists and what a service answers when it stored
weights in the platform's shared cache (object storage, models/pretrained/…)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from trainyard_wire.spec import StrictModel

# Where the public API and the services serve seeded weights.
WEIGHTS_PATH = "/v1/weights"


class WeightsFileView(BaseModel):
    path: str
    sha256: str
    size: int


class StoredWeights(BaseModel):
    """A service's answer: the weights loaded in its framework and are now in storage."""

    framework: str
    model: str = Field(description="The name the weights go by in the tiers (jobs' model).")
    sha256: str
    size: int
    files: list[WeightsFileView]
    uri: str = Field(description="The storage folder holding the weights and their manifest.")


class WeightsView(StoredWeights):
    """Seeded weights as the public API lists them."""

    id: str
    created_at: datetime


class WeightsNames(StrictModel):
    """The tiers' names of some models (the gateway asks which jobs need seeded weights)."""

    models: list[str] = Field(max_length=10_000)


class WeightsNamesAnswer(BaseModel):
    names: dict[str, str]
