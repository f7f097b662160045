"""A training service's settings, read from the environment when the service starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_INTERNAL_TOKEN = "dev-internal-token"  # noqa: S105 - the documented development default


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int | None = Field(None, validation_alias="PORT")
    data_dir: Path = Field(Path(".data"), validation_alias="TRAINYARD_DATA_DIR")
    internal_token: str = Field(DEV_INTERNAL_TOKEN, validation_alias="TRAINYARD_INTERNAL_TOKEN")
    storage_uri: str | None = Field(None, validation_alias="STORAGE_URI")
    max_concurrent_runs: int = Field(2, ge=1, validation_alias="MAX_CONCURRENT_RUNS")
    stop_grace_seconds: float = Field(10.0, ge=0, validation_alias="STOP_GRACE_SECONDS")
    heartbeat_interval: float = Field(5.0, gt=0, validation_alias="HEARTBEAT_INTERVAL")

    def resolved_storage_uri(self) -> str:
        return self.storage_uri or (self.data_dir / "storage").resolve().as_uri()
