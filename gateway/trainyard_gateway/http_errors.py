"""The HTTP edge: domain errors and invalid requests become Trainyard's error body.

Queries and commands raise `trainyard_gateway.errors` exceptions; this is the one place that
turns them into status codes. Routing errors (an unknown path, a wrong method) keep their own
status and get the same body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from trainyard_gateway.errors import GatewayError
from trainyard_wire.errors import error_body, validation_error_body


def install_error_handlers(app: FastAPI, body_model: Any = None) -> None:
    @app.exception_handler(GatewayError)
    async def _domain(request: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.message, exc.errors),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_error_body(exc.errors(), body_model), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
