"""Serve the dashboard: its page at `/` and its scripts and styles under `/dashboard/`.

The files are plain HTML, CSS and JavaScript modules shipped inside this package (no build
step, nothing from a CDN). Only the files listed at start-up can be served. The pages are open;
the API calls they make carry the user's API key.
"""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from trainyard_gateway.errors import NotFound

STATIC = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Revalidate on each load: a gateway upgrade must not leave old scripts in browsers.
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


@functools.cache
def assets() -> dict[str, Path]:
    """Every file the dashboard serves, by its path under `/dashboard/`."""
    return {
        path.relative_to(STATIC).as_posix(): path
        for path in sorted(STATIC.rglob("*"))
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


def _serve(name: str) -> FileResponse:
    path = assets()[name]
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.get("/")
def index() -> FileResponse:
    return _serve("index.html")


@router.get("/dashboard/{name:path}")
def asset(name: str) -> FileResponse:
    if name not in assets():
        raise NotFound(
            f"the dashboard has no file {name!r}",
            [{"field": "path", "message": "no such dashboard file", "allowed": list(assets())}],
        )
    return _serve(name)
