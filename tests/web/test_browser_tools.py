"""The browser tests' own tools do what the page tests rely on: chromium loads the daemon's
documents, the problem recorder catches console errors and failed requests, axe-core finds the
faults of a bad page and none on a good one, Tab reaches every link, screenshots are PNGs of the
viewport's size, and the product's endpoint can be made to fail."""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.web.browser import (
    LAPTOP,
    PHONE,
    Viewport,
    axe_version,
    axe_violations,
    save_screenshot,
    tab_through,
    tabbable_controls,
    unreachable_controls,
    watch,
)
from tests.web.product import AZURE, OPENAI, Product

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.web.browser import PageProblems
    from tests.web.conftest import NewPage

GOOD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Good page</title>
<link rel="icon" href="data:,"></head>
<body><header><nav aria-label="Site"><a href="/good">Status</a> <a href="/links">Links</a></nav>
</header>
<main><h1>Live performance</h1>
<p>99.9% avg uptime · 531 ms best TTFT</p>
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
     alt="uptime bar">
<button type="button">Pause refresh</button></main></body></html>
"""

BAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bad page</title>
<link rel="icon" href="data:,"></head>
<body><main><h1>Broken</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">
<button type="button"></button></main></body></html>
"""

LINKS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Links</title>
<link rel="icon" href="data:,"></head>
<body><nav aria-label="Pages"><a href="/a">A</a> <a href="/b">B</a></nav>
<main><h1>Links</h1>
<table><tr><td><a href="/models/gpt-4.1-nano">gpt-4.1-nano</a></td>
<td><a href="/endpoints/openai">openai</a></td></tr></table>
<details><summary>More</summary><a href="/hidden">hidden until opened</a></details>
<a href="/skip" tabindex="-1">not in the Tab order</a>
<div tabindex="0" role="region" aria-label="chart">chart</div>
<button type="button" disabled>off</button>
<button type="button">Pause refresh</button>
<p><a href="/last">last</a></p></main></body></html>
"""

UNREACHABLE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trap</title>
<link rel="icon" href="data:,"></head>
<body><main><h1>Trap</h1><a href="/one">one</a>
<a href="/two" id="two">two</a><a href="/three">three</a>
<script>document.getElementById('two').addEventListener('focus',
  () => document.querySelector('a[href="/three"]').focus());</script></main></body></html>
"""

NOISY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Noisy</title>
<link rel="icon" href="data:,"></head>
<body><main><h1>Noisy</h1><script src="/missing.js"></script>
<script>console.error("chart data missing");</script></main></body></html>
"""

PAGES = {"/good": GOOD, "/bad": BAD, "/links": LINKS, "/trap": UNREACHABLE, "/noisy": NOISY}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A local HTTP server of the small pages above; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def png_size(path: Path) -> tuple[int, int]:
    """The width and height of a PNG file, after checking every chunk's CRC and that the
    image data inflates to exactly the rows the header announces."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    offset, chunks, idat = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append(kind)
        if kind == b"IDAT":
            idat += body
        offset += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    assert len(zlib.decompress(idat)) == height * (1 + width * channels * depth // 8)
    return width, height


# --- the daemon's documents ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/openapi.json", "/healthz"])
def test_the_daemons_documents_load_in_chromium_without_console_errors(
    product: Product, page: Page, page_problems: PageProblems, path: str
) -> None:
    response = page.goto(product.url(path))

    assert response is not None and response.status == 200
    assert page_problems.all() == []
    assert page.locator("body").inner_text().lstrip().startswith("{")


def test_a_failing_endpoint_fails_its_probes_until_it_is_restored(product: Product) -> None:
    product.wait_for_probes()

    with product.failing(AZURE):
        product.wait_until(
            "azure-eastus's probes fail",
            lambda: product.endpoints()[AZURE]["last_probe"]["outcome"] == "server_error",
        )
        assert product.endpoints()[OPENAI]["last_probe"]["outcome"] == "success"

    product.wait_until(
        "azure-eastus succeeds again",
        lambda: product.endpoints()[AZURE]["last_probe"]["outcome"] == "success",
    )


def test_the_product_rolls_up_windows_of_both_endpoints_within_seconds(product: Product) -> None:
    product.wait_for_windows(1)

    profile = product.api("/api/v1/models/gpt-4.1-nano/profile")

    assert product.config["rollup"]["window"] == "10s"
    assert profile["live"]["total_endpoints"] == 2
    assert profile["live"]["available_via"] == ["OpenAI", "Azure"]


# --- console errors and failed requests ----------------------------------------------------------


def test_console_errors_and_failed_requests_are_recorded(site: str, page: Page) -> None:
    page.goto(f"{site}/noisy")
    problems = watch(page).all()
    watch(page).clear()  # this page fails on purpose

    assert any("chart data missing" in p for p in problems)
    assert any(p.startswith("failed request: GET") and "/missing.js: 404" in p for p in problems)


def test_a_page_with_problems_fails_the_check(site: str, page: Page) -> None:
    page.goto(f"{site}/noisy")

    with pytest.raises(AssertionError, match="chart data missing"):
        watch(page).check()
    watch(page).clear()


def test_a_404_document_counts_as_a_failed_request(site: str, page: Page) -> None:
    page.goto(f"{site}/nope")

    assert any(p.endswith("/nope: 404") for p in watch(page).failed_requests)
    watch(page).clear()


# --- accessibility -------------------------------------------------------------------------------


def test_axe_finds_the_image_without_alt_and_the_unnamed_button(site: str, page: Page) -> None:
    page.goto(f"{site}/bad")

    found = {(v.rule, v.impact, v.targets) for v in axe_violations(page)}

    assert found == {("button-name", "critical", ("button",)), ("image-alt", "critical", ("img",))}


def test_axe_finds_no_serious_violation_on_a_good_page(site: str, new_page: NewPage) -> None:
    for scheme in ("light", "dark"):
        page = new_page(color_scheme=scheme)
        page.goto(f"{site}/good")

        assert [str(v) for v in axe_violations(page)] == []


def test_axe_runs_the_bundled_axe_core_offline(site: str, page: Page) -> None:
    page.route(
        "**/*", lambda route: route.continue_() if site in route.request.url else route.abort()
    )
    page.goto(f"{site}/good")

    assert axe_version(page).startswith("4.")


# --- keyboard ------------------------------------------------------------------------------------


def test_tab_reaches_every_link_and_control_of_a_page(site: str, page: Page) -> None:
    page.goto(f"{site}/links")

    reached = tab_through(page)
    expected = tabbable_controls(page)

    assert [c.href or c.name for c in reached] == [
        "/a", "/b", "/models/gpt-4.1-nano", "/endpoints/openai", "More", "chart",
        "Pause refresh", "/last",
    ]  # fmt: skip
    assert reached == expected
    assert unreachable_controls(page) == []


def test_a_link_that_tab_skips_is_reported_unreachable(site: str, page: Page) -> None:
    page.goto(f"{site}/trap")

    assert [c.href for c in unreachable_controls(page)] == ["/two"]


# --- screenshots ---------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=lambda v: v.name)
def test_a_screenshot_is_a_png_of_the_viewport_size(
    site: str, page: Page, tmp_path: Path, viewport: Viewport
) -> None:
    page.goto(f"{site}/good")

    path = save_screenshot(page, tmp_path / "shots", "good", viewport)

    assert path == tmp_path / "shots" / f"good-{viewport.name}.png"
    assert png_size(path) == (viewport.width, viewport.height)
