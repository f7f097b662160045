"""What can go wrong in the gateway's domain, as exceptions that know nothing of HTTP.

Queries and commands raise these; `http_errors.install_error_handlers` maps each to its status
code and the error body every Trainyard answer uses. A message says what was wrong and, where
there is a choice, what is allowed (`errors` carries the same per field).
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of the gateway's domain errors; `status` is the HTTP code the edge answers with."""

    status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers


class NotFound(GatewayError):
    status = 404


class JobNotFound(NotFound):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


class DatasetNotFound(NotFound):
    def __init__(self, dataset_id: str) -> None:
        super().__init__(f"no dataset {dataset_id!r} (see GET /v1/datasets)")
        self.dataset_id = dataset_id


class WebhookNotFound(NotFound):
    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"no webhook {webhook_id!r} (see GET /v1/webhooks)")
        self.webhook_id = webhook_id


class Conflict(GatewayError):
    """The request is valid but the resource's state does not allow it now."""

    status = 409


class JobEnded(Conflict):
    """The job already reached a final state."""


class DatasetInUse(Conflict):
    pass


class InvalidInput(GatewayError):
    status = 422


class InvalidSpec(InvalidInput):
    """A job spec the platform (or the framework's service) cannot run."""


class InvalidDataset(InvalidInput):
    pass


class InvalidWebhook(InvalidInput):
    """A webhook URL or event list the gateway will not deliver to."""


class QueueFull(GatewayError):
    status = 429


class Unauthorized(GatewayError):
    status = 401


class TokenExpired(GatewayError):
    status = 410


class TooLarge(GatewayError):
    status = 413


class UnsupportedMediaType(GatewayError):
    status = 415


class Unavailable(GatewayError):
    """A dependency (storage, a service) failed for now; trying again may succeed."""

    status = 503


_BY_STATUS: dict[int, type[GatewayError]] = {
    cls.status: cls
    for cls in (
        NotFound,
        Conflict,
        InvalidInput,
        QueueFull,
        Unauthorized,
        TokenExpired,
        TooLarge,
        UnsupportedMediaType,
        Unavailable,
    )
}


def error_for_status(status: int, message: str) -> GatewayError:
    """The domain error for a status a lower layer chose (an upload's size or format check)."""
    return _BY_STATUS.get(status, GatewayError)(message)
