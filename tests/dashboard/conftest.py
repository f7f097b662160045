"""A real browser for the dashboard tests, and pages with and without the API key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.dashboard import API_KEY, CHROMIUM, CHROMIUM_ARGS, open_page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page whose browser already holds the API key."""
    yield from open_page(browser, API_KEY)


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Page]:
    """A page in a browser that has never seen this gateway."""
    yield from open_page(browser, None)
