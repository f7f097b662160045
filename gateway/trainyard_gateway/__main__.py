"""Serve the gateway: `python -m trainyard_gateway`."""

from __future__ import annotations

import uvicorn

from trainyard_gateway.app import create_app
from trainyard_gateway.production import exit_if_unsafe
from trainyard_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    exit_if_unsafe(settings)
    # log_config=None: uvicorn's lines go through the gateway's logging setup.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
