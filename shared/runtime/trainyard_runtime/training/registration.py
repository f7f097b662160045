"""`spec.register_as`: a succeeded run's best checkpoint becomes a new model version in MLflow.

It runs in train.py, after training and before the run reports `succeeded`: a job that asked to
be registered succeeds only once its version exists. With the registry unreachable or refusing,
the job fails with reason `registration_failed` (its checkpoints stay in storage, listed on the
job), so a missing version is never a silent success.
"""

from __future__ import annotations

from collections.abc import Mapping

from trainyard_runtime.storage import StoredObject
from trainyard_runtime.tracking import RunInfo
from trainyard_runtime.tracking.model_registry import ModelRegistry, RegistryError
from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.events import RegisteredVersion
from trainyard_wire.failures import FailureReason
from trainyard_wire.registry import (
    TAG_CHECKPOINT_URI,
    TAG_DATASET,
    TAG_FRAMEWORK,
    TAG_JOB_ID,
    TAG_METRIC_PREFIX,
    TAG_MODEL,
    TAG_TASK,
)
from trainyard_wire.spec import JobSpec


def version_tags(
    job_id: str, spec: JobSpec, checkpoint_uri: str, metrics: Mapping[str, float]
) -> dict[str, str]:
    return {
        TAG_JOB_ID: job_id,
        TAG_FRAMEWORK: spec.framework,
        TAG_MODEL: spec.model,
        TAG_TASK: spec.task,
        TAG_DATASET: spec.dataset.uri,
        TAG_CHECKPOINT_URI: checkpoint_uri,
        **{f"{TAG_METRIC_PREFIX}{k}": repr(float(v)) for k, v in metrics.items()},
    }


def register_best(
    tracking_uri: str | None,
    job_id: str,
    spec: JobSpec,
    best: StoredObject | None,
    run: RunInfo | None,
    metrics: Mapping[str, float],
) -> RegisteredVersion | None:
    """Register `best` as a version of `spec.register_as`; None when the spec asks for none."""
    name = spec.register_as
    if name is None:
        return None
    if not tracking_uri:
        raise TrainingError(
            FailureReason.REGISTRATION_FAILED,
            f"register_as {name!r}: no model registry is configured (MLFLOW_TRACKING_URI is "
            "unset for this run)",
        )
    if best is None:
        raise TrainingError(
            FailureReason.REGISTRATION_FAILED,
            f"register_as {name!r}: the run saved no best checkpoint to register",
        )
    filename = best.key.rsplit("/", 1)[-1]
    # MLflow links a version to its run when the source is one of the run's artifacts (the
    # tracker uploaded the checkpoint there); otherwise it points at our storage.
    source = f"{run.artifact_uri}/checkpoints/{filename}" if run else best.uri
    try:
        with ModelRegistry.at(tracking_uri) as registry:
            version = registry.create_version(
                name,
                source,
                run.run_id if run else None,
                version_tags(job_id, spec, best.uri, metrics),
            )
    except RegistryError as exc:
        raise TrainingError(
            FailureReason.REGISTRATION_FAILED,
            f"training succeeded but registering the best checkpoint as {name!r} failed: {exc}. "
            f"The checkpoint is kept at {best.uri}",
        ) from exc
    print(f"[trainyard] registered {best.uri} as model {name!r} version {version.version}")
    return RegisteredVersion(name=name, version=version.version)
