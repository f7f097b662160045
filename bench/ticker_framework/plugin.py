"""The ticker framework's capabilities and options."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trainyard_servicekit import FrameworkPlugin, TaskSupport


class TickerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: int = Field(100, ge=1, le=100_000, description="timestamped lines to print")
    interval: float = Field(0.05, ge=0, le=10, description="seconds between two lines")


PLUGIN = FrameworkPlugin(
    name="ticker",
    train_module="bench.ticker_framework.train",
    default_port=8019,
    tasks=lambda: {
        "classification": TaskSupport(dataset_formats=["imagefolder"], models=["counter"])
    },
    versions=lambda: {"ticker": "1.0"},
    device=lambda: "cpu",
    options_model=TickerOptions,
)
