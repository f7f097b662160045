"""The gateway's settings, read from the environment once, when the app is built."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainyard_wire.runs import DEV_INTERNAL_TOKEN, SERVICE_PORTS


def _local(framework: str) -> str:
    """The framework's service on this machine, at its default port."""
    return f"http://127.0.0.1:{SERVICE_PORTS[framework]}"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8000, validation_alias="PORT")
    data_dir: Path = Field(Path(".data"), validation_alias="TRAINYARD_DATA_DIR")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    storage_uri: str | None = Field(None, validation_alias="STORAGE_URI")
    internal_token: str = Field(DEV_INTERNAL_TOKEN, validation_alias="TRAINYARD_INTERNAL_TOKEN")
    # The address training runs use to call back; defaults to this gateway on loopback.
    public_url: str | None = Field(None, validation_alias="GATEWAY_URL")
    # production refuses development defaults at start-up (trainyard_gateway.production).
    environment: Literal["development", "production"] = Field(
        "development", validation_alias="TRAINYARD_ENV"
    )
    # Public API keys, comma-separated; clients send `Authorization: Bearer <key>`. Without any,
    # the gateway only starts when anonymous access is asked for explicitly (development).
    api_keys: str = Field("", validation_alias="TRAINYARD_API_KEYS", repr=False)
    allow_anonymous: bool = Field(False, validation_alias="TRAINYARD_ALLOW_ANONYMOUS")
    # gunicorn worker processes (trainyard_gateway.serve); WEB_CONCURRENCY is the PaaS convention.
    workers: int = Field(
        1, ge=1, le=64, validation_alias=AliasChoices("GATEWAY_WORKERS", "WEB_CONCURRENCY")
    )

    timm_service_url: str = Field(
        f"http://127.0.0.1:{SERVICE_PORTS['timm']}", validation_alias="TIMM_SERVICE_URL"
    )
    ultralytics_service_url: str = Field(
        f"http://127.0.0.1:{SERVICE_PORTS['ultralytics']}",
        validation_alias="ULTRALYTICS_SERVICE_URL",
    )
    huggingface_service_url: str = Field(
        f"http://127.0.0.1:{SERVICE_PORTS['huggingface']}",
        validation_alias="HUGGINGFACE_SERVICE_URL",
    )
    # More frameworks without code changes: "name=http://host:port,other=http://…".
    extra_services: str = Field("", validation_alias="TRAINYARD_EXTRA_SERVICES")

    # The MLflow server whose model registry `register_as`, `init_from: {"model": …}` and
    # GET /v1/models use (the one the services track runs in); unset: no registry.
    mlflow_tracking_uri: str | None = Field(None, validation_alias="MLFLOW_TRACKING_URI")

    dispatch_interval: float = Field(1.0, gt=0, validation_alias="DISPATCH_INTERVAL")
    service_poll_interval: float = Field(5.0, gt=0, validation_alias="SERVICE_POLL_INTERVAL")
    exit_grace_seconds: float = Field(3.0, ge=0, validation_alias="EXIT_GRACE_SECONDS")
    heartbeat_timeout: float = Field(60.0, gt=0, validation_alias="HEARTBEAT_TIMEOUT")
    # A running job whose service answers nothing and whose heartbeats stopped becomes `lost`
    # after this long; until then it is marked and checked again at every round.
    service_unreachable_timeout: float = Field(
        600.0, gt=0, validation_alias="SERVICE_UNREACHABLE_TIMEOUT"
    )
    callback_grace_seconds: float = Field(300.0, ge=0, validation_alias="CALLBACK_GRACE_SECONDS")
    log_tail_lines: int = Field(50, ge=1, le=10_000, validation_alias="LOG_TAIL_LINES")

    # Limits on what one client may send: a request body (dataset uploads have their own limit
    # below), and jobs waiting in the queue per project.
    max_request_bytes: int = Field(1024**2, ge=1024, validation_alias="MAX_REQUEST_BYTES")
    max_queued_jobs_per_project: int = Field(
        1000, ge=1, validation_alias="MAX_QUEUED_JOBS_PER_PROJECT"
    )

    # Datasets: the largest zip accepted, and what one may unpack to (files, bytes).
    max_dataset_upload_bytes: int = Field(
        2 * 1024**3, ge=1, validation_alias="MAX_DATASET_UPLOAD_BYTES"
    )
    max_dataset_files: int = Field(100_000, ge=1, validation_alias="MAX_DATASET_FILES")
    max_dataset_bytes: int = Field(10 * 1024**3, ge=1, validation_alias="MAX_DATASET_BYTES")
    # Where registered remote datasets are fetched to be checked; default under the data dir.
    dataset_cache_dir: Path | None = Field(None, validation_alias="DATASET_CACHE_DIR")

    # Seeded pretrained weights (POST /v1/weights): the largest file or zip accepted.
    max_weights_upload_bytes: int = Field(
        8 * 1024**3, ge=1, validation_alias="MAX_WEIGHTS_UPLOAD_BYTES"
    )

    # Webhooks: how long one delivery may take, how often it is tried before it is marked
    # failed, and the backoff between tries (doubling from the first, up to the cap).
    webhook_timeout: float = Field(5.0, gt=0, le=60, validation_alias="WEBHOOK_TIMEOUT")
    webhook_max_attempts: int = Field(10, ge=1, le=100, validation_alias="WEBHOOK_MAX_ATTEMPTS")
    webhook_retry_initial: float = Field(1.0, gt=0, validation_alias="WEBHOOK_RETRY_INITIAL")
    webhook_retry_max: float = Field(300.0, gt=0, validation_alias="WEBHOOK_RETRY_MAX")

    @field_validator("allow_anonymous", mode="before")
    @classmethod
    def _empty_is_false(cls, value: object) -> object:
        return False if value == "" else value

    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    def resolved_storage_uri(self) -> str:
        return self.storage_uri or (self.data_dir / "storage").resolve().as_uri()

    def resolved_dataset_cache_dir(self) -> Path:
        return self.dataset_cache_dir or self.data_dir / "dataset-cache"

    def callback_base(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def service_urls(self) -> dict[str, str]:
        urls = {
            "timm": self.timm_service_url,
            "ultralytics": self.ultralytics_service_url,
            "huggingface": self.huggingface_service_url,
        }
        for entry in filter(None, (e.strip() for e in self.extra_services.split(","))):
            name, sep, url = entry.partition("=")
            if not sep or not name.strip() or not url.strip():
                raise ValueError(
                    f"TRAINYARD_EXTRA_SERVICES entry {entry!r} must look like name=http://host:port"
                )
            urls[name.strip()] = url.strip()
        return {name: url.rstrip("/") for name, url in urls.items()}
