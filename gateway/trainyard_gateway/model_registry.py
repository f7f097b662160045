"""The gateway's view of the model registry (MLflow at MLFLOW_TRACKING_URI).

Read before a job is stored, never inside a database transaction: `registered_version` turns
`init_from: {"model", "version"}` into that version (its checkpoint and what trained it), and
`list_models` answers `GET /v1/models`.
"""

from __future__ import annotations

from trainyard_gateway.errors import InvalidSpec, Unavailable
from trainyard_gateway.settings import GatewaySettings
from trainyard_runtime.tracking.model_registry import ModelRegistry, NoSuchVersion, RegistryError
from trainyard_wire.registry import ModelList, ModelVersion
from trainyard_wire.spec import InitFromModel

NO_REGISTRY = "this gateway has no model registry: set MLFLOW_TRACKING_URI to the MLflow server"


def _registry(settings: GatewaySettings, field: str) -> ModelRegistry:
    if not settings.mlflow_tracking_uri:
        raise InvalidSpec(
            f"{field}: {NO_REGISTRY}",
            [{"field": field, "message": NO_REGISTRY, "allowed": []}],
        )
    return ModelRegistry.at(settings.mlflow_tracking_uri)


def check_registry(settings: GatewaySettings, register_as: str | None) -> None:
    """`register_as` needs a registry; refused at submission rather than after training."""
    if register_as is not None:
        _registry(settings, "register_as").close()


def registered_version(settings: GatewaySettings, ref: InitFromModel) -> ModelVersion:
    try:
        with _registry(settings, "init_from.model") as registry:
            found = registry.get_version(ref.model, ref.version)
            names = (
                []
                if isinstance(found, ModelVersion) or found.model_exists
                else [m.name for m in registry.models()]
            )
    except RegistryError as exc:
        raise Unavailable(f"the model registry cannot be read now: {exc}; try again") from exc
    if isinstance(found, ModelVersion):
        return found
    return _refuse_missing(ref, found, names)


def _refuse_missing(ref: InitFromModel, found: NoSuchVersion, names: list[str]) -> ModelVersion:
    if not found.model_exists:
        message = f"no registered model {ref.model!r}"
        raise InvalidSpec(
            f"init_from.model: {message} (see GET /v1/models)",
            [{"field": "init_from.model", "message": message, "allowed": names}],
        )
    message = f"model {ref.model!r} has no version {ref.version}"
    raise InvalidSpec(
        f"init_from.version: {message}",
        [{"field": "init_from.version", "message": message, "allowed": found.versions}],
    )


def list_models(settings: GatewaySettings) -> ModelList:
    if not settings.mlflow_tracking_uri:
        return ModelList(items=[])
    try:
        with ModelRegistry.at(settings.mlflow_tracking_uri) as registry:
            return ModelList(items=registry.models())
    except RegistryError as exc:
        raise Unavailable(f"the model registry cannot be read now: {exc}; try again") from exc
