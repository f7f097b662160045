"""MLflow's model registry over REST: register a checkpoint as a model version, read versions.

A registered version's `source` is where MLflow points (the run's artifact when the job was
tracked, else the checkpoint's storage URI); the tag `trainyard.checkpoint_uri` always holds the
checkpoint in Trainyard's storage, which is what `init_from: {"model", "version"}` trains from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trainyard_runtime.tracking.mlflow_client import (
    MAX_TAG_VALUE,
    MlflowRestClient,
    TrackingError,
    field,
    safe_key,
)
from trainyard_wire.registry import (
    TAG_CHECKPOINT_URI,
    TAG_DATASET,
    TAG_FRAMEWORK,
    TAG_JOB_ID,
    TAG_METRIC_PREFIX,
    TAG_MODEL,
    TAG_TASK,
    ModelVersion,
    RegisteredModel,
)

_API = "/api/2.0/mlflow"
PAGE_SIZE = 100  # versions and models per search page
MAX_PAGES = 50  # a listing stops here rather than loop on a server that repeats its token


class RegistryError(TrackingError):
    """The registry could not be reached or refused a request."""


@dataclass(frozen=True)
class NoSuchVersion:
    """Why a version cannot be found: the model is unknown, or it has other versions."""

    model_exists: bool
    versions: list[int]


def _tags(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or [] if "key" in t}


def _time(ms: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


def version_view(data: dict[str, Any]) -> ModelVersion:
    tags = _tags(data.get("tags"))
    metrics: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(TAG_METRIC_PREFIX):
            try:
                metrics[key.removeprefix(TAG_METRIC_PREFIX)] = float(value)
            except ValueError:
                continue
    return ModelVersion(
        name=str(data.get("name", "")),
        version=int(data.get("version", 0)),
        source=str(data.get("source", "")),
        run_id=data.get("run_id") or None,
        job_id=tags.get(TAG_JOB_ID),
        framework=tags.get(TAG_FRAMEWORK),
        model=tags.get(TAG_MODEL),
        task=tags.get(TAG_TASK),
        dataset=tags.get(TAG_DATASET),
        checkpoint_uri=tags.get(TAG_CHECKPOINT_URI),
        metrics=metrics,
        tags=tags,
        created_at=_time(data.get("creation_timestamp")),
    )


class ModelRegistry:
    def __init__(self, client: MlflowRestClient) -> None:
        self._client = client

    @classmethod
    def at(cls, tracking_uri: str) -> ModelRegistry:
        return cls(MlflowRestClient(tracking_uri))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._client.request(method, f"{_API}/{path}", **kwargs)
        except TrackingError as exc:
            raise RegistryError(str(exc)) from exc

    def ensure_model(self, name: str) -> None:
        """Create the registered model unless it exists (two jobs may race: both succeed)."""
        response = self._call("POST", "registered-models/create", json={"name": name}, ok=(400,))
        if response.status_code == 400 and "RESOURCE_ALREADY_EXISTS" not in response.text:
            raise RegistryError(
                f"MLflow refused to create registered model {name!r}: {response.text[:300]}"
            )

    def create_version(
        self, name: str, source: str, run_id: str | None, tags: dict[str, str]
    ) -> ModelVersion:
        self.ensure_model(name)
        body: dict[str, Any] = {
            "name": name,
            "source": source,
            "tags": [{"key": safe_key(k), "value": v[:MAX_TAG_VALUE]} for k, v in tags.items()],
        }
        if run_id:
            body["run_id"] = run_id
        response = self._call("POST", "model-versions/create", json=body)
        try:
            return version_view(field(response, "model_version"))
        except TrackingError as exc:
            raise RegistryError(str(exc)) from exc

    def get_version(self, name: str, version: int) -> ModelVersion | NoSuchVersion:
        response = self._call(
            "GET",
            "model-versions/get",
            params={"name": name, "version": str(version)},
            ok=(400, 404),
        )
        if response.status_code == 200:
            return version_view(field(response, "model_version"))
        found = self._call("GET", "registered-models/get", params={"name": name}, ok=(400, 404))
        if found.status_code != 200:
            return NoSuchVersion(model_exists=False, versions=[])
        return NoSuchVersion(model_exists=True, versions=[v.version for v in self.versions(name)])

    def versions(self, name: str) -> list[ModelVersion]:
        escaped = name.replace("'", "\\'")
        found = self._pages("model-versions/search", "model_versions", f"name='{escaped}'")
        return sorted((version_view(v) for v in found), key=lambda v: v.version)

    def models(self) -> list[RegisteredModel]:
        """Every registered model with all its versions, oldest version first."""
        models = []
        for data in self._pages("registered-models/search", "registered_models"):
            name = str(data.get("name", ""))
            models.append(
                RegisteredModel(
                    name=name,
                    description=data.get("description") or None,
                    created_at=_time(data.get("creation_timestamp")),
                    updated_at=_time(data.get("last_updated_timestamp")),
                    versions=self.versions(name),
                )
            )
        return sorted(models, key=lambda m: m.name)

    def _pages(self, path: str, key: str, filter_: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        for _ in range(MAX_PAGES):
            params: dict[str, str] = {"max_results": str(PAGE_SIZE)}
            if filter_:
                params["filter"] = filter_
            if token:
                params["page_token"] = token
            response = self._call("GET", path, params=params)
            try:
                body = response.json()
            except ValueError as exc:
                message = f"unexpected answer from {path}: {response.text[:300]}"
                raise RegistryError(message) from exc
            items += body.get(key) or []
            token = body.get("next_page_token")
            if not token:
                break
        return items
