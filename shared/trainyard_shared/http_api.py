"""HTTP conventions shared by the gateway and the services: error bodies and bearer tokens.

Every error answers `{"error": …, "message": …}`; validation errors add `errors`, a list of
`{field, message, allowed?}` so a client sees what was wrong and what is allowed.
"""

from __future__ import annotations

import hmac
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from trainyard_shared.errors import describe_errors, summarize


class ApiError(HTTPException):
    """An error with a message, and optionally the per-field problems behind it."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.errors = errors


def error_body(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict:
    body: dict[str, Any] = {"error": HTTPStatus(status).phrase.lower(), "message": message}
    if errors is not None:
        body["errors"] = errors
    return body


def install_error_handlers(app: FastAPI, body_model: Any = None) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = describe_errors(exc.errors(), body_model)
        message = "invalid request: " + summarize(errors)
        return JSONResponse(error_body(422, message, errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        errors = getattr(exc, "errors", None)
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail), errors),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def tokens_equal(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_token(request: Request, expected: str) -> None:
    if not tokens_equal(bearer_token(request), expected):
        raise ApiError(401, "missing or wrong bearer token")
