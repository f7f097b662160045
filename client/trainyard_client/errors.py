"""What the client raises: one base class, one subclass per kind of trouble.

Errors the gateway answered carry its status code and its body, `{error, message, errors}`,
where each of `errors` names a field, what was wrong with it and, often, what is allowed.
"""

from __future__ import annotations

from typing import Any

import httpx


class TrainyardError(Exception):
    """Anything the client could not do."""


class ConfigError(TrainyardError):
    """A setting (an argument or an environment variable) has a value that cannot work."""


class GatewayUnreachable(TrainyardError):
    """No answer from the gateway: nothing listens, the network failed, or it timed out."""

    def __init__(self, url: str, cause: Exception) -> None:
        self.url = url
        self.cause = cause
        reason = str(cause) or type(cause).__name__
        super().__init__(f"cannot reach the gateway at {url}: {reason}")


class ApiError(TrainyardError):
    """The gateway answered with an error status."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.errors = errors or []
        super().__init__(f"{status} {error}: {message}")

    def describe(self) -> list[str]:
        """The message, then one line per field with what is allowed there."""
        lines = [self.message]
        for item in self.errors:
            line = f"{item.get('field', '?')}: {item.get('message', 'invalid')}"
            allowed = item.get("allowed")
            if allowed:
                line += f" (allowed: {', '.join(map(str, allowed))})"
            if line not in self.message:  # validation messages already list their fields
                lines.append(line)
        return lines


class InvalidRequest(ApiError):
    """4xx: the request itself was wrong (bad spec, unknown model, too large, …)."""


class Unauthorized(InvalidRequest):
    """401/403: no API key, or one the gateway does not accept."""


class NotFound(InvalidRequest):
    """404: no such job, dataset or artifact (or route, on an older gateway)."""


class Conflict(InvalidRequest):
    """409: the request clashes with the current state (a dataset still in use, …)."""


class ServerError(ApiError):
    """5xx: the gateway, or something behind it, failed."""


class WaitTimeout(TrainyardError):
    """A job was still not finished when the wait ran out."""

    def __init__(self, job: dict[str, Any], timeout: float) -> None:
        self.job = job
        self.timeout = timeout
        super().__init__(f"job {job['id']} is still {job['state']} after {timeout:g}s")


class ChecksumMismatch(TrainyardError):
    """A downloaded artifact's bytes do not match the checksum the gateway recorded."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
}


def error_from_response(response: httpx.Response) -> ApiError:
    """The error for a response with a 4xx/5xx status, from the gateway's error body if any."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        error = str(body.get("error") or response.reason_phrase.lower())
        message = body["message"]
        errors = body.get("errors") if isinstance(body.get("errors"), list) else None
    else:  # not the gateway's format: a proxy in between, or an unexpected server
        error = response.reason_phrase.lower() or "error"
        message = response.text.strip()[:500] or f"HTTP {status}"
        errors = None
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else InvalidRequest)
    return kind(status, error, message, errors)
