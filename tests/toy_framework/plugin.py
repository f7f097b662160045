"""The toy framework's capabilities and options."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trainyard_servicekit import FrameworkPlugin, TaskSupport


class ToyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch_seconds: float = Field(0.05, ge=0, le=60, description="time one epoch takes")
    lines_per_epoch: int = Field(2, ge=0, le=10_000, description="log lines printed per epoch")
    fail_at_epoch: int | None = Field(None, ge=1, description="raise an exception at this epoch")
    hard_exit_at_epoch: int | None = Field(None, ge=1, description="os._exit without reporting")
    exit_code: int = Field(3, ge=1, le=255, description="exit code of a hard exit")
    spawn_child: bool = Field(False, description="start a child process that sleeps")
    write_token: bool = Field(False, description="write the callback token to the work dir")
    ignore_sigterm: bool = Field(False, description="ignore SIGTERM, so only SIGKILL stops it")


PLUGIN = FrameworkPlugin(
    name="toy",
    train_module="toy_framework.train",
    default_port=8009,
    tasks=lambda: {
        "classification": TaskSupport(
            dataset_formats=["imagefolder"], models=["counter"], metrics=["loss", "accuracy"]
        )
    },
    versions=lambda: {"toy": "1.0"},
    device=lambda: "cpu",
    options_model=ToyOptions,
    warm_imports=("toy_framework.plugin",),
)
