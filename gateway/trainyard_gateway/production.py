"""Production safety: a gateway in production mode refuses to start on development defaults."""

from __future__ import annotations

import sys

from trainyard_gateway.settings import GatewaySettings
from trainyard_shared.service.settings import DEV_INTERNAL_TOKEN

# Public API keys come with a later issue; until then the public API has no authentication of its
# own, so production deployments keep it on a private network or behind an authenticating proxy.


class UnsafeSettingsError(RuntimeError):
    """The settings are fine for development but must not reach production."""


def production_problems(settings: GatewaySettings) -> list[str]:
    """What makes these settings unsafe for production (nothing in development mode)."""
    if settings.environment != "production":
        return []
    problems = []
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
            "TRAINYARD_ENV=production refuses to start: " + "; ".join(problems)
        )


def exit_if_unsafe(settings: GatewaySettings) -> None:
    """For entry points: say why on stderr and exit with status 2 instead of a traceback."""
    try:
        check_production_settings(settings)
    except UnsafeSettingsError as exc:
        print(f"trainyard-gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
