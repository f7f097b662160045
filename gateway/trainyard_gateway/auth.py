"""Public API keys: every `/v1/*` call carries `Authorization: Bearer <key>`.

Keys are kept only as sha256 hashes and a presented key is compared against every one of them
in constant time, so neither the answer nor its timing tells which part of a key was right.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from trainyard_gateway.errors import Unauthorized
from trainyard_gateway.tokens import token_hash

log = logging.getLogger("trainyard.auth")

# auto_error=False: a missing header gets our own 401 body, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="a key from TRAINYARD_API_KEYS")


class ApiKeys:
    def __init__(self, keys: list[str], allow_anonymous: bool) -> None:
        self._hashes = [token_hash(key) for key in keys]
        self.anonymous = allow_anonymous and not self._hashes

    def allows(self, key: str | None) -> bool:
        if self.anonymous:
            return True
        presented = token_hash(key or "")
        matched = False
        for stored in self._hashes:  # no early exit: the same work whichever key matches
            matched |= hmac.compare_digest(presented, stored)
        return matched and bool(key)


async def require_api_key(  # async: hashing a key needs no worker thread
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    keys: ApiKeys = request.app.state.api_keys
    if keys.allows(credentials.credentials if credentials else None):
        return
    problem = "missing" if credentials is None else "not a valid API key"
    raise Unauthorized(
        f"this API needs an API key: the Authorization header is {problem}; send "
        "`Authorization: Bearer <key>` with a key from the gateway's TRAINYARD_API_KEYS",
        headers={"WWW-Authenticate": "Bearer"},
    )


ApiKeyRequired = Depends(require_api_key)
