"""A training service's settings, read from the environment when the service starts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainyard_runtime.run_environment import DEFAULT_HEARTBEAT_INTERVAL, RunVariable
from trainyard_servicekit.executors.kubernetes.settings import KubernetesSettings
from trainyard_wire.runs import DEV_INTERNAL_TOKEN


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int | None = Field(None, validation_alias="PORT")
    data_dir: Path = Field(Path(".data"), validation_alias="TRAINYARD_DATA_DIR")
    internal_token: str = Field(DEV_INTERNAL_TOKEN, validation_alias="TRAINYARD_INTERNAL_TOKEN")
    # The service's storage is its runs' storage: the same variable train.py reads.
    storage_uri: str | None = Field(None, validation_alias=str(RunVariable.STORAGE_URI))
    max_concurrent_runs: int = Field(2, ge=1, validation_alias="MAX_CONCURRENT_RUNS")
    stop_grace_seconds: float = Field(10.0, ge=0, validation_alias="STOP_GRACE_SECONDS")
    # The machine's GPUs subprocess runs are given from, comma-separated ("0,1,2,3"); empty:
    # every run sees the service's own.
    gpu_devices: str = Field("", validation_alias="TRAINYARD_GPU_DEVICES")
    # Subprocess runs fork from a process that has already imported torch and the framework
    # (executors/warm_runner.py); off: every run is a fresh `python -m`.
    warm_starts: bool = Field(True, validation_alias="WARM_STARTS")
    # How much the models kept loaded for predictions may take, by their weights' size.
    predict_cache_bytes: int = Field(2 * 1024**3, ge=0, validation_alias="PREDICT_CACHE_BYTES")
    heartbeat_interval: float = Field(
        DEFAULT_HEARTBEAT_INTERVAL, gt=0, validation_alias=str(RunVariable.HEARTBEAT_INTERVAL)
    )

    # Pretrained weights (see the README): the runs' local cache, the Hugging Face hub's
    # endpoint and token, and the base URL of Ultralytics' asset release. Passed to every run;
    # a Kubernetes pod gets the token from the Secret KUBERNETES_HF_TOKEN_SECRET names.
    weights_cache_dir: Path | None = Field(
        None, validation_alias=str(RunVariable.WEIGHTS_CACHE_DIR)
    )
    hf_endpoint: str | None = Field(None, validation_alias=str(RunVariable.HF_ENDPOINT))
    hf_token: str | None = Field(None, validation_alias=str(RunVariable.HF_TOKEN), repr=False)
    ultralytics_assets_url: str | None = Field(
        None, validation_alias=str(RunVariable.ULTRALYTICS_ASSETS_URL)
    )

    # The largest weights upload (a file, or a zip of a model folder) a service takes to seed.
    max_weights_upload_bytes: int = Field(
        8 * 1024**3, ge=1, validation_alias="MAX_WEIGHTS_UPLOAD_BYTES"
    )

    # Where runs go: this machine (subprocess) or Kubernetes Jobs. See docs/kubernetes.md.
    training_executor: Literal["subprocess", "kubernetes"] = Field(
        "subprocess", validation_alias="TRAINING_EXECUTOR"
    )
    kubernetes_fallback_to_subprocess: bool = Field(
        False, validation_alias="KUBERNETES_FALLBACK_TO_SUBPROCESS"
    )
    # Its own KUBERNETES_* variables, read when the service's settings are.
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)

    @model_validator(mode="after")
    def _pod_grace_follows_stop_grace(self) -> ServiceSettings:
        # A stopped pod gets the grace period a stopped subprocess gets.
        grace = max(1, round(self.stop_grace_seconds))
        if self.kubernetes.termination_grace_seconds != grace:
            self.kubernetes = self.kubernetes.model_copy(
                update={"termination_grace_seconds": grace}
            )
        return self

    def enabled_executors(self) -> list[str]:
        """The default executor first; subprocess too where it is the fallback."""
        names: list[str] = [self.training_executor]
        if self.training_executor == "kubernetes" and self.kubernetes_fallback_to_subprocess:
            names.append("subprocess")
        return names

    def resolved_storage_uri(self) -> str:
        return self.storage_uri or (self.data_dir / "storage").resolve().as_uri()
