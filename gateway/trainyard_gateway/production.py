"""Start-up safety: the gateway refuses to start on settings that would leave it open.

Anywhere, a public API with no keys needs an explicit TRAINYARD_ALLOW_ANONYMOUS=1; in production
mode (TRAINYARD_ENV=production) anonymous access and the development internal token are refused.
"""

from __future__ import annotations

import sys

from trainyard_gateway.settings import GatewaySettings
from trainyard_wire.runs import DEV_INTERNAL_TOKEN


class UnsafeSettingsError(RuntimeError):
    """The settings would serve the API unprotected, or with development secrets."""


NO_KEYS = (
    "no API keys: set TRAINYARD_API_KEYS to one or more comma-separated keys (clients send "
    "`Authorization: Bearer <key>`)"
)


def production_problems(settings: GatewaySettings) -> list[str]:
    """What makes these settings unsafe to start with."""
    keys = settings.api_key_list()
    if settings.environment != "production":
        if keys or settings.allow_anonymous:
            return []
        return [NO_KEYS + ", or TRAINYARD_ALLOW_ANONYMOUS=1 for development without keys"]
    problems = []
    if not keys:
        problems.append(NO_KEYS + "; anonymous access is refused in production")
    if settings.internal_token == DEV_INTERNAL_TOKEN:
        problems.append(
            f"TRAINYARD_INTERNAL_TOKEN is the development default {DEV_INTERNAL_TOKEN!r}: set a "
            "long random secret, the same on the gateway and every training service"
        )
    return problems


def check_production_settings(settings: GatewaySettings) -> None:
    problems = production_problems(settings)
    if problems:
        raise UnsafeSettingsError(
            f"the gateway ({settings.environment}) refuses to start: " + "; ".join(problems)
        )


def exit_if_unsafe(settings: GatewaySettings) -> None:
    """For entry points: say why on stderr and exit with status 2 instead of a traceback."""
    try:
        check_production_settings(settings)
    except UnsafeSettingsError as exc:
        print(f"trainyard-gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
