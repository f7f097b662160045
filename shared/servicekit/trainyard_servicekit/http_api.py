"""A training service's HTTP conventions: its error answers and the internal bearer token.

Errors use the body every Trainyard answer uses (`trainyard_wire.errors`), so the gateway reads
a service's refusal the way a client reads the gateway's.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from trainyard_wire.errors import error_body, validation_error_body


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


def install_error_handlers(app: FastAPI, body_model: Any = None) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_error_body(exc.errors(), body_model), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail), getattr(exc, "errors", None)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def require_token(request: Request, expected: str) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "missing or wrong bearer token")
