"""How runs become Kubernetes Jobs: namespace, image, limits, GPU placement (docs/kubernetes.md).

Read from the service's environment (the KUBERNETES_* variables and the image template) as a
nested part of the service's settings; tests build one with field names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _gpu_tolerations() -> list[dict[str, Any]]:
    return [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


class KubernetesSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", frozen=True, populate_by_name=True
    )

    namespace: str = Field(
        "training",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        validation_alias="KUBERNETES_NAMESPACE",
    )
    # A template ({framework}, {version}) or a full image name.
    image: str = Field(
        "ghcr.io/trainyard/{framework}:{version}", validation_alias="TRAINYARD_IMAGE"
    )
    image_version: str = Field("0.1.0", validation_alias="TRAINYARD_IMAGE_VERSION")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", validation_alias="KUBERNETES_IMAGE_PULL_POLICY"
    )
    # A failed training attempt is reported, not silently retried.
    backoff_limit: int = Field(0, ge=0, le=10, validation_alias="KUBERNETES_BACKOFF_LIMIT")
    active_deadline_seconds: int = Field(
        24 * 3600, ge=1, validation_alias="KUBERNETES_ACTIVE_DEADLINE_SECONDS"
    )
    ttl_seconds_after_finished: int = Field(
        24 * 3600, ge=0, validation_alias="KUBERNETES_TTL_SECONDS_AFTER_FINISHED"
    )
    # For jobs that leave resources.gpu unset.
    default_gpus: int = Field(0, ge=0, le=16, validation_alias="KUBERNETES_DEFAULT_GPUS")
    gpu_node_selector: dict[str, str] = Field(
        default_factory=dict, validation_alias="KUBERNETES_GPU_NODE_SELECTOR"
    )
    gpu_tolerations: list[dict[str, Any]] = Field(
        default_factory=_gpu_tolerations, validation_alias="KUBERNETES_GPU_TOLERATIONS"
    )
    shm_size: str = Field("1Gi", validation_alias="KUBERNETES_SHM_SIZE")
    # envFrom: S3 credentials (Secret) and endpoint, region (ConfigMap); empty: none.
    storage_secret: str | None = Field(
        "trainyard-storage", validation_alias="KUBERNETES_STORAGE_SECRET"
    )
    storage_configmap: str | None = Field(
        "trainyard-storage", validation_alias="KUBERNETES_STORAGE_CONFIGMAP"
    )
    # The Secret (key HF_TOKEN) a pod takes its Hugging Face token from; the token itself is
    # never written into a Job. Empty: pods get none.
    hf_token_secret: str | None = Field(None, validation_alias="KUBERNETES_HF_TOKEN_SECRET")
    # Development mode: a train package from a ConfigMap.
    dev_code_configmap: str | None = Field(None, validation_alias="KUBERNETES_DEV_CODE_CONFIGMAP")
    max_concurrent_jobs: int = Field(16, ge=1, validation_alias="KUBERNETES_MAX_CONCURRENT_JOBS")
    run_as_user: int = 10001  # the USER of the images
    # Set from the service's STOP_GRACE_SECONDS (see ServiceSettings).
    termination_grace_seconds: int = 30

    @field_validator("storage_secret", "storage_configmap", "dev_code_configmap", "hf_token_secret")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    def image_for(self, framework: str) -> str:
        return self.image.format(framework=framework, version=self.image_version)
