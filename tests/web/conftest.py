"""Fixtures of the browser tests.

- ``browser``: headless chromium (Debian's), one per test module.
- ``new_page(viewport=LAPTOP, **context_options)``: a page in a fresh browser context of its
  own; its console errors, uncaught exceptions and failed requests are recorded
  (``problems_of(page)``) and fail the test at teardown.
- ``page``: ``new_page()``, a laptop-sized page; ``page_problems``: its recorder.
- ``product``: the simulator and ``llm-monitor run`` as processes, one per test module
  (``tests.web.product.Product``: ``base_url``, ``admin_url``, ``config``, ``set_mode`` …).
- ``world``, ``client``: the page tests' world (``tests.web.pages``) in a real SQLite store, and
  the HTTP app over it in process.

Playwright's sync API is used: a browser test is a plain ``def`` (not ``async def``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.reliability.harness import unavailable
from tests.web.browser import LAPTOP, REQUIRE_ENV, PageProblems, Viewport, launch, watch
from tests.web.pages import FAILING, NEVER, UNPROBED, client_of, config_at
from tests.web.product import Product, start_product
from tests.web.world import View, build, history

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

#: A page opened by ``new_page``.
NewPage = Callable[..., "Page"]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (sync API), one per test module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[test]')", REQUIRE_ENV)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless chromium, one per test module."""
    browser = launch(playwright)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """Open pages, each in a fresh context (no cookies or storage shared); the test fails
    at teardown if any of them had a console error, an uncaught exception or a failed request."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []

    def open_page(viewport: Viewport = LAPTOP, **context_options: Any) -> Page:
        context = browser.new_context(viewport=viewport.size(), **context_options)
        contexts.append(context)
        page = context.new_page()
        watch(page)
        pages.append(page)
        return page

    try:
        yield open_page
        for page in pages:
            watch(page).check()
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_page: NewPage) -> Page:
    """A laptop-sized page (1366×768) in a fresh context, watched for problems."""
    return new_page()


@pytest.fixture
def page_problems(page: Page) -> PageProblems:
    """What went wrong on ``page`` so far (``clear()`` after a step that fails on purpose)."""
    return watch(page)


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """The simulator and the daemon (demo config: gpt-4.1-nano on simulated OpenAI and Azure,
    probes every 2 s, 10-second windows), one per test module."""
    with start_product(tmp_path_factory.mktemp("product")) as running:
        yield running


# --- the page tests' world (tests/web/pages.py), in process --------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[View]:
    """A day and a half of windows of every endpoint but the fresh one, as published at NOW."""
    config = config_at(tmp_path)
    view = build(
        config,
        history(config, 72, failing=FAILING, never=NEVER),
        failing=FAILING,
        unprobed=UNPROBED,
    )
    try:
        yield view
    finally:
        view.store.close()


@pytest.fixture
async def client(world: View) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_of(world) as c:
        yield c
