"""The web dashboard: static pages at `/` that use the public API from the browser."""

from trainyard_gateway.dashboard.routes import router

__all__ = ["router"]
