"""The dashboard's browser tests: Debian's chromium through Playwright, pages that hold the API
key or not, screenshots, and the jobs they look at (through the Python client)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from playwright.sync_api import Browser, Page

from tests.support.processes import REPO

CHROMIUM = Path(os.environ.get("TRAINYARD_CHROMIUM", "/usr/bin/chromium"))
# The machine has no network: without these chromium waits on connections it cannot make.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "test-artifacts" / "dashboard"
DOCS_IMAGES = REPO / "docs" / "images"
API_KEY = "dashboard-test-key"


def update_docs_screenshots() -> bool:
    """TRAINYARD_UPDATE_SCREENSHOTS=1: also write the README's images under docs/images/."""
    return os.environ.get("TRAINYARD_UPDATE_SCREENSHOTS") == "1"


def open_page(browser: Browser, api_key: str | None) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if api_key:  # as if the user had entered it before
        context.add_init_script(f"localStorage.setItem('trainyard.apiKey', {api_key!r})")
    opened = context.new_page()
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    yield opened
    context.close()
    assert not script_errors, f"the page raised: {script_errors}"


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def submit(stack: SimpleNamespace, spec: dict) -> dict:
    return stack.api.create_job(spec).model_dump(mode="json")


def get_job(stack: SimpleNamespace, job_id: str) -> dict:
    return stack.api.get_job(job_id).model_dump(mode="json")


def wait_ended(stack: SimpleNamespace, job_id: str, timeout: float = 30) -> dict:
    return stack.api.wait(job_id, timeout, poll_interval=0.1).model_dump(mode="json")
