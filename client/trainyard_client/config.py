"""Where the gateway is and how to talk to it, from arguments first and the environment second."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from trainyard_client.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class ClientConfig:
    url: str = DEFAULT_URL
    api_key: str | None = None
    timeout: float = 30.0  # seconds for one request (connect, read, write)
    retries: int = 3  # extra attempts for calls that are safe to repeat
    backoff: float = 0.5  # seconds before the first retry, doubled each time

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the gateway URL {self.url!r} must start with http:// or https:// "
                "(set TRAINYARD_URL or --url)"
            )

    @classmethod
    def from_env(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Explicit values win; then TRAINYARD_URL, TRAINYARD_API_KEY, TRAINYARD_TIMEOUT and
        TRAINYARD_RETRIES; then the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            url=(url or env.get("TRAINYARD_URL") or DEFAULT_URL).rstrip("/"),
            api_key=api_key or env.get("TRAINYARD_API_KEY") or None,
            timeout=_number(env, "TRAINYARD_TIMEOUT", cls.timeout),
            retries=int(_number(env, "TRAINYARD_RETRIES", cls.retries)),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value
