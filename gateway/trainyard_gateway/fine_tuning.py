"""Fine-tuning: `spec.init_from` checked at submission and resolved to one checkpoint URI.

A job id (its best or last checkpoint), a checkpoint key/URI under `checkpoints/`, or a model
registry version (read beforehand, outside the transaction, by model_registry.py) all become
`init_from: {"uri": …}` in the stored spec, so train.py fetches the file with no lookup. What
was asked, with the URI, is kept on the job as its lineage (`init_from` on the job view).

The source must fit: the same framework, task and model as the new job (the backbone's weights
load as they are; only a classification head whose classes differ is re-initialised), and a
source job must have succeeded.
"""

from __future__ import annotations

from typing import Any

from trainyard_gateway.db import ReadSession
from trainyard_gateway.errors import InvalidSpec, Unavailable
from trainyard_gateway.models import Job
from trainyard_gateway.resume import checkpoint_key_of
from trainyard_runtime.storage import Storage, StorageError, UnsafeKeyError
from trainyard_runtime.storage.base import check_key
from trainyard_runtime.storage.layout import CHECKPOINTS, parse_checkpoint_key
from trainyard_wire.registry import ModelVersion
from trainyard_wire.spec import (
    CHECKPOINT_NAMES,
    InitFromJob,
    InitFromModel,
    InitFromUri,
    JobSpec,
)
from trainyard_wire.states import JobState


def _refuse(field: str, message: str, allowed: list[Any]) -> InvalidSpec:
    return InvalidSpec(
        f"{field}: {message}", [{"field": field, "message": message, "allowed": allowed}]
    )


def _fits(spec: JobSpec) -> str:
    return f"a {spec.framework} {spec.task} model {spec.model!r}"


def _check_fits(
    spec: JobSpec, field: str, what: str, framework: str | None, task: str | None, model: str | None
) -> None:
    """422 unless the source was trained by the same framework, for the same task and model."""
    for name, theirs, ours in (
        ("framework", framework, spec.framework),
        ("task", task, spec.task),
        ("model", model, spec.model),
    ):
        if theirs is not None and theirs != ours:
            raise _refuse(
                field,
                f"{what} is {name} {theirs!r} and this job is {name} {ours!r}: fine-tuning "
                "keeps the architecture, so they must match",
                [f"{what.split()[0]} of {_fits(spec)}"],
            )


def _key_of(storage: Storage, value: str, field: str) -> str:
    allowed = [
        f"a checkpoint key under {CHECKPOINTS}",
        f"a URI under {storage.uri_for(CHECKPOINTS.rstrip('/'))}/",
    ]
    try:
        key = storage.key_for(value) if "://" in value else check_key(value)
    except UnsafeKeyError as exc:
        raise _refuse(field, str(exc), allowed) from None
    if not key.startswith(CHECKPOINTS):
        raise _refuse(field, f"{value!r} is not a checkpoint (not under {CHECKPOINTS})", allowed)
    return key


def _check_exists(storage: Storage, key: str, field: str) -> None:
    try:
        found = storage.exists(key)
    except ValueError as exc:  # a link inside the storage folder that leads out of it
        raise _refuse(field, str(exc), [f"a checkpoint under {CHECKPOINTS}"]) from None
    except (StorageError, OSError) as exc:
        message = f"cannot check the checkpoint {key} in storage: {exc}; try again"
        raise Unavailable(message) from exc
    if not found:
        raise _refuse(
            field, f"there is no checkpoint at {key}", [f"a checkpoint under {CHECKPOINTS}"]
        )


def _from_job(session: ReadSession, spec: JobSpec, ref: InitFromJob) -> str:
    source = session.get(Job, ref.job)
    if source is None:
        raise _refuse(
            "init_from.job", f"no job {ref.job!r}", [f"the id of a succeeded job of {_fits(spec)}"]
        )
    if source.state != JobState.SUCCEEDED:
        raise _refuse(
            "init_from.job",
            f"job {ref.job} is {source.state}: only a succeeded job's model is fine-tuned "
            "(resume_from continues one that failed)",
            [JobState.SUCCEEDED.value],
        )
    what = f"job {ref.job}"
    _check_fits(spec, "init_from.job", what, source.framework, source.task, source.model)
    key = checkpoint_key_of(session, source, ref.checkpoint)
    if key is None:
        saved = [n for n in CHECKPOINT_NAMES if checkpoint_key_of(session, source, n)]
        raise _refuse(
            "init_from.checkpoint", f"job {ref.job} saved no {ref.checkpoint} checkpoint", saved
        )
    return key


def _from_uri(session: ReadSession, storage: Storage, spec: JobSpec, ref: InitFromUri) -> str:
    key = _key_of(storage, ref.uri, "init_from.uri")
    place = parse_checkpoint_key(key)
    source = session.get(Job, place.job_id) if place else None
    if source is not None:
        what = f"checkpoint of job {source.id}"
        _check_fits(spec, "init_from.uri", what, source.framework, source.task, source.model)
    return key


def _from_model(storage: Storage, spec: JobSpec, ref: InitFromModel, found: ModelVersion) -> str:
    what = f"version {ref.version} of registered model {ref.model!r}"
    _check_fits(spec, "init_from.model", what, found.framework, found.task, found.model)
    if not found.checkpoint_uri:
        raise _refuse(
            "init_from.model",
            f"{what} was not registered by Trainyard (it has no trainyard.checkpoint_uri tag)",
            ["a version registered with register_as"],
        )
    return _key_of(storage, found.checkpoint_uri, "init_from.model")


def resolve_init_from(
    session: ReadSession, storage: Storage, spec: JobSpec, registered: ModelVersion | None
) -> tuple[JobSpec, dict[str, Any] | None]:
    """The spec with `init_from` as a checked checkpoint URI, and the job's lineage record.

    `registered`: the registry version an `init_from: {"model", "version"}` names, read by
    the caller before the transaction.
    """
    ref = spec.init_from
    if ref is None:
        return spec, None
    if isinstance(ref, InitFromJob):
        key = _from_job(session, spec, ref)
        field = "init_from.job"
    elif isinstance(ref, InitFromUri):
        key = _from_uri(session, storage, spec, ref)
        field = "init_from.uri"
    else:
        assert registered is not None, "the caller reads the registry version first"
        key = _from_model(storage, spec, ref, registered)
        field = "init_from.model"
    _check_exists(storage, key, field)
    uri = storage.uri_for(key)
    place = parse_checkpoint_key(key)
    lineage = {**ref.model_dump(), "uri": uri}
    if place is not None:
        lineage.setdefault("job", place.job_id)
    return spec.model_copy(update={"init_from": InitFromUri(uri=uri)}), lineage
