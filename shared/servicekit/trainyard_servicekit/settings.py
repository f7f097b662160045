"""A training service's settings, read from the environment when the service starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainyard_servicekit.executors.kubernetes.job import KubernetesSettings
from trainyard_wire.runs import DEV_INTERNAL_TOKEN


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

    # Where runs go: this machine (subprocess) or Kubernetes Jobs. See docs/kubernetes.md.
    training_executor: Literal["subprocess", "kubernetes"] = Field(
        "subprocess", validation_alias="TRAINING_EXECUTOR"
    )
    kubernetes_fallback_to_subprocess: bool = Field(
        False, validation_alias="KUBERNETES_FALLBACK_TO_SUBPROCESS"
    )
    kubernetes_namespace: str = Field(
        "training",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        validation_alias="KUBERNETES_NAMESPACE",
    )
    trainyard_image: str = Field(
        "ghcr.io/trainyard/{framework}:{version}", validation_alias="TRAINYARD_IMAGE"
    )
    trainyard_image_version: str = Field("0.1.0", validation_alias="TRAINYARD_IMAGE_VERSION")
    kubernetes_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", validation_alias="KUBERNETES_IMAGE_PULL_POLICY"
    )
    kubernetes_active_deadline_seconds: int = Field(
        86400, ge=1, validation_alias="KUBERNETES_ACTIVE_DEADLINE_SECONDS"
    )
    kubernetes_backoff_limit: int = Field(
        0, ge=0, le=10, validation_alias="KUBERNETES_BACKOFF_LIMIT"
    )
    kubernetes_ttl_seconds_after_finished: int = Field(
        86400, ge=0, validation_alias="KUBERNETES_TTL_SECONDS_AFTER_FINISHED"
    )
    kubernetes_default_gpus: int = Field(0, ge=0, le=16, validation_alias="KUBERNETES_DEFAULT_GPUS")
    kubernetes_gpu_node_selector: dict[str, str] = Field(
        default_factory=dict, validation_alias="KUBERNETES_GPU_NODE_SELECTOR"
    )
    kubernetes_gpu_tolerations: list[dict[str, Any]] = Field(
        default_factory=lambda: [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ],
        validation_alias="KUBERNETES_GPU_TOLERATIONS",
    )
    kubernetes_shm_size: str = Field("1Gi", validation_alias="KUBERNETES_SHM_SIZE")
    kubernetes_storage_secret: str | None = Field(
        "trainyard-storage", validation_alias="KUBERNETES_STORAGE_SECRET"
    )
    kubernetes_storage_configmap: str | None = Field(
        "trainyard-storage", validation_alias="KUBERNETES_STORAGE_CONFIGMAP"
    )
    kubernetes_dev_code_configmap: str | None = Field(
        None, validation_alias="KUBERNETES_DEV_CODE_CONFIGMAP"
    )
    kubernetes_max_concurrent_jobs: int = Field(
        16, ge=1, validation_alias="KUBERNETES_MAX_CONCURRENT_JOBS"
    )

    def kubernetes(self) -> KubernetesSettings:
        return KubernetesSettings(
            namespace=self.kubernetes_namespace,
            image=self.trainyard_image,
            image_version=self.trainyard_image_version,
            image_pull_policy=self.kubernetes_image_pull_policy,
            backoff_limit=self.kubernetes_backoff_limit,
            active_deadline_seconds=self.kubernetes_active_deadline_seconds,
            ttl_seconds_after_finished=self.kubernetes_ttl_seconds_after_finished,
            default_gpus=self.kubernetes_default_gpus,
            gpu_node_selector=self.kubernetes_gpu_node_selector,
            gpu_tolerations=self.kubernetes_gpu_tolerations,
            shm_size=self.kubernetes_shm_size,
            storage_secret=self.kubernetes_storage_secret or None,
            storage_configmap=self.kubernetes_storage_configmap or None,
            dev_code_configmap=self.kubernetes_dev_code_configmap or None,
            termination_grace_seconds=max(1, round(self.stop_grace_seconds)),
            max_concurrent_jobs=self.kubernetes_max_concurrent_jobs,
        )

    def enabled_executors(self) -> list[str]:
        """The default executor first; subprocess too where it is the fallback."""
        names: list[str] = [self.training_executor]
        if self.training_executor == "kubernetes" and self.kubernetes_fallback_to_subprocess:
            names.append("subprocess")
        return names

    def resolved_storage_uri(self) -> str:
        return self.storage_uri or (self.data_dir / "storage").resolve().as_uri()
