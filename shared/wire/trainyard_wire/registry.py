"""The model registry as the public API shows it (`GET /v1/models`): MLflow's registered
models, each version with the job that trained it and the checkpoint it holds."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

# Tags Trainyard writes on each model version it registers; `init_from` reads the checkpoint.
TAG_JOB_ID = "trainyard.job_id"
TAG_FRAMEWORK = "trainyard.framework"
TAG_MODEL = "trainyard.model"
TAG_TASK = "trainyard.task"
TAG_DATASET = "trainyard.dataset"
TAG_CHECKPOINT_URI = "trainyard.checkpoint_uri"
TAG_METRIC_PREFIX = "trainyard.metric."


class ModelVersion(BaseModel):
    name: str
    version: int
    source: str
    run_id: str | None
    job_id: str | None
    framework: str | None
    model: str | None
    task: str | None
    dataset: str | None
    checkpoint_uri: str | None
    metrics: dict[str, float]
    tags: dict[str, str]
    created_at: datetime | None


class RegisteredModel(BaseModel):
    name: str
    description: str | None
    created_at: datetime | None
    updated_at: datetime | None
    versions: list[ModelVersion]


class ModelList(BaseModel):
    items: list[RegisteredModel]
