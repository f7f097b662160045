"""A cap on request bodies, so no client can make the gateway buffer an unbounded body.

Dataset uploads stream to disk under their own, larger limit (MAX_DATASET_UPLOAD_BYTES) and are
left to that route. A declared Content-Length over the cap is refused before reading; a chunked
body is counted as it arrives and refused once it passes the cap.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainyard_wire.errors import error_body

DEFAULT_HINT = "MAX_REQUEST_BYTES); upload datasets through POST /v1/datasets"


class BodyLimit:
    """`only_prefixes`: apply to these paths alone (a route with a limit of its own, `hint`
    saying what it allows)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        exempt_prefixes: tuple[str, ...],
        only_prefixes: tuple[str, ...] | None = None,
        hint: str = DEFAULT_HINT,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt_prefixes
        self.only = only_prefixes
        self.hint = hint

    def _applies(self, path: str) -> bool:
        if path.startswith(self.exempt):
            return False
        return self.only is None or path.startswith(self.only)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        # Read the (bounded) body here and replay it: a failure inside the app's own body
        # parsing would become a generic 400, not a 413 that says what the limit is.
        chunks: list[bytes] = []
        seen = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                413,
                f"the request body is larger than the gateway accepts ({self.max_bytes} bytes, "
                + self.hint,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(chunks: list[bytes], final: Message | None, receive: Receive | None = None) -> Receive:
    """A receive() that hands the app the buffered body, then whatever comes next."""
    pending: list[Message] = [
        {"type": "http.request", "body": b"".join(chunks), "more_body": False}
    ]
    if final is not None:
        pending = [final]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        if receive is None:
            return {"type": "http.disconnect"}
        return await receive()  # e.g. the disconnect a streaming response waits for

    return replay
