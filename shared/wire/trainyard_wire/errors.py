"""The error body every Trainyard answer uses, and validation errors turned into it.

Every error answers `{"error": …, "message": …}`; validation errors add `errors`, a list of
`{field, message, allowed?}` so a client sees what was wrong and what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel

# Where FastAPI puts the request body in an error location; not part of the user's field path.
_LOCATION_PREFIXES = {"body", "query", "path", "header"}


def field_path(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATION_PREFIXES:
        parts = parts[1:]
    # Discriminated unions add the tag as a path element; keep it, it names the branch.
    return ".".join(parts) or "(body)"


def _allowed_fields(model: type[BaseModel] | None, loc: Sequence[Any]) -> list[str] | None:
    """The field names allowed at the parent of `loc`, walking the model's annotations."""
    current: Any = model
    for part in list(loc)[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        current = fields[part].annotation
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def describe_errors(
    errors: Iterable[Mapping[str, Any]], model: type[BaseModel] | None = None
) -> list[dict[str, Any]]:
    described = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if str(p) not in _LOCATION_PREFIXES or p != "body"]
        item: dict[str, Any] = {"field": field_path(loc), "message": err.get("msg", "invalid")}
        if err.get("type") == "extra_forbidden":
            allowed = _allowed_fields(model, [p for p in loc if str(p) not in _LOCATION_PREFIXES])
            item["message"] = "unknown field"
            if allowed:
                item["allowed"] = allowed
        elif err.get("type") == "missing":
            item["message"] = "field required"
        described.append(item)
    return described


def summarize(details: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{d['field']}: {d['message']}"
        + (f" (allowed: {', '.join(map(str, d['allowed']))})" if d.get("allowed") else "")
        for d in details
    )


class FieldError(BaseModel):
    field: str
    message: str
    allowed: list[Any] | None = None


class ErrorBody(BaseModel):
    """What every error answer holds."""

    error: str
    message: str
    errors: list[FieldError] | None = None


def error_body(
    status: int, message: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": HTTPStatus(status).phrase.lower(), "message": message}
    if errors is not None:
        body["errors"] = errors
    return body


def validation_error_body(
    errors: Iterable[Mapping[str, Any]], model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """The 422 body for a request that failed validation against `model`."""
    described = describe_errors(errors, model)
    return error_body(422, "invalid request: " + summarize(described), described)
