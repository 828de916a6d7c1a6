"""The pages in a real browser (chromium), against the real product (the simulator and
``llm-monitor run`` as processes) and against small worlds served on a real socket.

What the page tests over HTTP cannot see: what the browser shows once the style sheet and the
script have run. The figures a reader sees are the profile API's, written as the pages write
them; the charts draw a line per endpoint; an outage shows on the status page; the page
refreshes itself until the reader pauses it; Tab reaches every control; axe-core finds nothing
serious in light and dark, on a laptop and on a phone; the sign-in form works; and worlds with
nothing in them, or with a thousand endpoints, render with their placeholders.

The product is started once for the module, and once more with a token for the sign-in tests.
The refresh test moves the page's clock (Playwright's ``page.clock``) rather than waiting the
30 s or more of a refresh period. Every page is opened by ``new_page`` (or ``page``), which
fails a test on a console error, an uncaught exception or a failed request; the tests that
cause a 400 or 401 on purpose say so and clear them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.reports.text import NO_DATA, every, millis, percent, tokens_per_second
from monitor.web.auth import SESSION_COOKIE, WRONG_TOKEN
from monitor.web.pages import short
from tests.web.browser import (
    LAPTOP,
    PHONE,
    Viewport,
    axe_violations,
    tab_from_the_top,
    tab_through,
    unreachable_controls,
    watch,
)
from tests.web.product import AZURE, MODEL, Product, start_product
from tests.web.serve import serving
from tests.web.world import LAST_WINDOW, View, build, endpoint_spec, history, world_config

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Request

    from tests.web.conftest import NewPage

MODEL_PAGE = f"/models/{MODEL}"
CARD = f"/models/{MODEL}/card"
PROFILE = f"/api/v1/models/{MODEL}/profile"
BADGE = f"/badges/models/{MODEL}/uptime.svg"
#: The token of the product started with one (``secured``).
TOKEN = "browser-sign-in-token-5d2c9e71"
SCHEMES = ("light", "dark")
VIEWPORTS = (LAPTOP, PHONE)


def open_ok(page: Page, url: str) -> None:
    """Load ``url`` and check that it answered 200."""
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)


def text(locator: Locator) -> str:
    """What the browser shows of an element, its white space folded."""
    assert locator.is_visible(), f"not shown: {locator}"
    return " ".join(locator.inner_text().split())


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- the numbers: what the browser shows is the API's, formatted as the pages format them ------


def card_text(live: dict[str, Any]) -> dict[str, str]:
    """A live card's figures as the pages write them (``parts.html``'s card)."""
    via = live["available_via"]
    return {
        "card-uptime": percent(live["avg_uptime_ratio"]),
        "card-ttft": millis(live["best_ttft_seconds"]),
        "card-throughput": tokens_per_second(live["best_output_tokens_per_second"]),
        "card-active": f"{live['active_endpoints']}/{live['total_endpoints']}",
        "card-via": "Available via: " + (", ".join(via) if via else "no active endpoint"),
    }


def shown_card(card: Locator) -> dict[str, str]:
    """A live card's figures as the browser shows them."""
    shown = {
        testid: text(card.locator(f"[data-testid={testid}] dd"))
        for testid in ("card-uptime", "card-ttft", "card-throughput", "card-active")
    }
    shown["card-via"] = text(card.get_by_test_id("card-via"))
    return shown


def status_rows_text(
    lines: dict[str, dict[str, Any]], states: dict[str, dict[str, Any]]
) -> dict[str, dict[str, str]]:
    """Each endpoint's line on the status page as the page writes it (``status.html``)."""
    out = {}
    for e, state in states.items():
        window = state["last_window"]
        out[e] = {
            "state": state["state"],
            "ttft": millis(window["ttft_p50_seconds"] if window else None),
            "uptime": percent(lines[e]["uptime_ratio"]),
        }
    return out


#: The model page's columns of numbers, by ``data-testid``.
MODEL_COLUMNS = (
    "endpoint-uptime",
    "endpoint-ttft-p50",
    "endpoint-ttft-p95",
    "endpoint-speed-p50",
    "endpoint-probes",
)


def model_rows_text(lines: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Each endpoint's row in the model page's table as the page writes it (``model.html``:
    the speed and the probes are formatted in the template itself)."""
    out = {}
    for e, line in lines.items():
        speed, probes = line["output_tokens_per_second_p50"], line["probes"]
        out[e] = {
            "endpoint-uptime": percent(line["uptime_ratio"]),
            "endpoint-ttft-p50": millis(line["ttft_p50_seconds"]),
            "endpoint-ttft-p95": millis(line["ttft_p95_seconds"]),
            "endpoint-speed-p50": "—" if speed is None else f"{speed:,.0f}",
            "endpoint-probes": "no data" if probes is None else f"{probes:,}",
        }
    return out


def api_numbers(product: Product) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The profile and ``/api/v1/endpoints`` (by id) without what changes with every probe."""
    profile = product.api(PROFILE)
    for line in profile["live"]["endpoints"]:
        line.pop("last_probe_at")
    states = {
        e: {"state": s["state"], "last_window": s["last_window"], "provider": s["provider_name"]}
        for e, s in product.endpoints().items()
    }
    return profile, states


def test_the_pages_show_the_profiles_numbers_as_they_format_them(
    product: Product, page: Page
) -> None:
    product.wait_for_windows(1)
    # A window closes every 10 s: read the API before and after the pages, until they agree.
    for _attempt in range(6):
        before = api_numbers(product)
        open_ok(page, product.url("/"))
        status_card = shown_card(page.locator(f"[data-testid=live-card][data-model='{MODEL}']"))
        status_rows = {
            row.get_attribute("data-endpoint") or "": {
                "state": text(row.get_by_test_id("endpoint-state")),
                "ttft": text(row.get_by_test_id("endpoint-ttft")),
                "uptime": text(row.get_by_test_id("endpoint-uptime")),
            }
            for row in page.get_by_test_id("endpoint-row").all()
        }
        summary = text(page.get_by_test_id("status-summary"))
        open_ok(page, product.url(MODEL_PAGE))
        model_card = shown_card(page.get_by_test_id("live-card"))
        refreshed = text(page.get_by_test_id("card-refresh"))
        model_rows = {
            row.get_attribute("data-endpoint") or "": {
                testid: text(row.get_by_test_id(testid)) for testid in MODEL_COLUMNS
            }
            for row in page.get_by_test_id("endpoint-row").all()
        }
        if api_numbers(product) == before:
            break
    else:
        pytest.fail("the profile changed during every reading of the pages")
    profile, states = before
    live = profile["live"]
    lines = {line["endpoint"]: line for line in live["endpoints"]}

    # Not a page of placeholders: the window's numbers are there, and both providers serve.
    assert None not in (live["avg_uptime_ratio"], live["best_ttft_seconds"])
    assert live["available_via"] and set(live["available_via"]) == {
        s["provider"] for s in states.values()
    }
    assert status_card == card_text(live)
    assert model_card == card_text(live)
    assert refreshed == (
        f"Live endpoint metrics — refreshed every {every(profile['refresh_interval_seconds'])}."
    )
    assert status_rows == status_rows_text(lines, states)
    assert model_rows == model_rows_text(lines)
    for state in ("up", "degraded", "down", "unknown"):
        count = sum(s["state"] == state for s in states.values())
        assert f"{count} {state}" in summary


# --- charts -------------------------------------------------------------------------------------

# Runs in the page: each chart's lines as drawn, with what the browser made of them.
_CHART_LINES = """
() => Array.from(document.querySelectorAll('[data-testid=chart]')).map(chart => ({
  metric: chart.dataset.metric,
  legend: chart.querySelectorAll('.legend li').length,
  lines: Array.from(chart.querySelectorAll('[data-testid=chart-series]')).map(g => {
    const path = g.querySelector('path');
    const box = path.getBBox();
    const style = getComputedStyle(path);
    return {
      endpoint: g.dataset.endpoint,
      length: path.getTotalLength(),
      extent: box.width + box.height,
      look: style.stroke + ' ' + style.strokeDasharray,
      shown: style.visibility !== 'hidden' && style.display !== 'none'
        && parseFloat(style.strokeWidth) > 0 && style.stroke !== 'none',
    };
  }),
}))
"""


def test_the_model_pages_charts_draw_a_line_per_endpoint(product: Product, page: Page) -> None:
    product.wait_for_windows(2)
    mine = [e["id"] for e in product.api("/api/v1/endpoints")["endpoints"] if e["model"] == MODEL]
    assert len(mine) >= 2

    for query in ("", "?range=1h"):
        open_ok(page, product.url(MODEL_PAGE + query))
        charts = page.evaluate(_CHART_LINES)

        assert [c["metric"] for c in charts] == ["ttft_p50", "ttft_p95", "speed_p50", "uptime"]
        for chart in charts:
            lines = chart["lines"]
            assert [line["endpoint"] for line in lines] == mine, chart["metric"]
            assert chart["legend"] == len(mine), chart["metric"]
            for line in lines:
                assert line["shown"] and line["length"] > 0 and line["extent"] > 0, (query, line)
            # Each line its own colour and dashes, so that they can be told apart.
            assert len({line["look"] for line in lines}) == len(lines), (query, chart)


# --- auto-refresh -------------------------------------------------------------------------------


def test_the_page_refreshes_itself_until_the_reader_pauses_it(product: Product, page: Page) -> None:
    product.wait_for_probes()
    url = product.url("/")
    fetched: list[str] = []

    def refetch(request: Request) -> bool:
        return request.resource_type == "fetch" and request.url == url

    page.on("request", lambda r: fetched.append(r.url) if refetch(r) else None)
    # The page's timers run on a clock the test moves, so that no test waits the 30 s or more.
    page.clock.install()
    open_ok(page, url)
    seconds = int(page.locator("body").get_attribute("data-refresh-seconds") or "0")
    assert seconds >= 30
    toggle = page.get_by_role("button", name="Pause auto-refresh")
    assert toggle.is_visible() and toggle.get_attribute("aria-pressed") == "false"
    assert str(seconds) in (toggle.get_attribute("title") or "")
    stamp = page.get_by_test_id("updated-at")
    first = text(stamp)
    mark_live_part(page)

    # Not before its time: a few seconds short of the period, nothing is fetched.
    page.clock.fast_forward((seconds - 5) * 1000)
    page.wait_for_timeout(1000)
    assert fetched == []
    time.sleep(1)  # the daemon's "Updated at" is to the second: let it pass one

    # At its time the page is fetched again and its live part replaced.
    with page.expect_request(refetch, timeout=15_000):
        page.clock.fast_forward(6_000)
    page.wait_for_function("() => !document.querySelector('[data-marked]')", timeout=15_000)
    page.wait_for_function(
        "first => document.getElementById('updated').innerText.trim() !== first",
        arg=first,
        timeout=15_000,
    )
    assert text(stamp).startswith("Updated at ")
    assert page.get_by_test_id("endpoint-row").count() >= 2

    # Paused, it stays as it is, over several periods and after a reload of the tab.
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    for reload in (False, True):
        if reload:
            page.reload()
            assert toggle.get_attribute("aria-pressed") == "true"
        fetched.clear()
        mark_live_part(page)
        paused_stamp = text(stamp)
        page.clock.fast_forward(3 * seconds * 1000)
        page.wait_for_timeout(1500)
        assert fetched == []
        assert page.locator("[data-marked]").count() == 1
        assert text(stamp) == paused_stamp

    # Pressed again, it refreshes at once and goes on.
    with page.expect_request(refetch, timeout=15_000):
        toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false"
    page.wait_for_function("() => !document.querySelector('[data-marked]')", timeout=15_000)


def mark_live_part(page: Page) -> None:
    """Mark the live part's first element, which a refresh replaces."""
    page.evaluate("document.getElementById('live').firstElementChild.dataset.marked = '1'")


# --- an outage ----------------------------------------------------------------------------------


def failure_of(state: dict[str, Any]) -> str | None:
    """Why ``/api/v1/endpoints`` says an endpoint that is down fails, as the status page
    writes it: its last probe's outcome and error (cut as the status page cuts it)."""
    probe = state["last_probe"]
    if state["state"] != "down" or probe is None or probe["outcome"] == "success":
        return None
    return short(f"{probe['outcome']}: {probe['error']}" if probe["error"] else probe["outcome"])


def test_a_failing_endpoint_shows_down_with_its_error_on_the_status_page(
    product: Product, page: Page
) -> None:
    product.wait_for_probes()
    open_ok(page, product.url("/"))
    assert page.locator(f"[data-testid=endpoint-row][data-endpoint='{AZURE}']").count() == 1

    seen: list[tuple[str, str | None, set[str | None]]] = []
    with product.failing(AZURE):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            before = failure_of(product.endpoints()[AZURE])
            page.reload()
            row = page.locator(f"[data-testid=endpoint-row][data-endpoint='{AZURE}']")
            state = text(row.get_by_test_id("endpoint-state"))
            error = row.get_by_test_id("last-error")
            shown = text(error) if error.count() else None
            expected = {before, failure_of(product.endpoints()[AZURE])} - {None}
            seen.append((state, shown, expected))
            if state == "down" and expected and shown in expected:
                break
            time.sleep(1)
        else:
            pytest.fail(f"{AZURE} never showed down with its error; last seen: {seen[-3:]}")
        summary = text(page.get_by_test_id("status-summary"))

    assert shown and shown.startswith("server_error")
    assert "1 down" in summary


# --- keyboard -----------------------------------------------------------------------------------


def product_pages(product: Product, page: Page) -> list[str]:
    """The product's pages: status, model, endpoint, reports, the newest report, card."""
    product.wait_for_windows(1)
    open_ok(page, product.url("/reports"))
    report = page.get_by_test_id("report-row").first.locator("a").first.get_attribute("href")
    assert report and report.startswith("/reports/")
    return ["/", MODEL_PAGE, f"/endpoints/{AZURE}", "/reports", report, CARD]


def test_tab_reaches_every_control_and_the_pause_button_comes_early(
    product: Product, page: Page
) -> None:
    for path in product_pages(product, page):
        open_ok(page, product.url(path))
        toggle = page.locator("#refresh-toggle")
        if toggle.count():
            reached = tab_through_until(page, "refresh-toggle")
            if path != CARD:
                # Before anything in the part that refreshes (the card's button is in its foot).
                assert not any(inside_live for inside_live in reached), (path, reached)
            # It works from the keyboard (paused or not, as the tab's session left it).
            pressed = toggle.get_attribute("aria-pressed")
            page.keyboard.press("Space")
            flipped = {"true": "false", "false": "true"}[pressed or ""]
            assert toggle.get_attribute("aria-pressed") == flipped, path
        open_details(page)
        missed = unreachable_controls(page)
        assert [str(c) for c in missed] == [], path
        assert tab_through(page)[0].name == ("Skip to main content" if path != CARD else MODEL)


def tab_through_until(page: Page, element_id: str, limit: int = 100) -> list[bool]:
    """Press Tab from the top until the element ``element_id`` has focus; for each control
    reached before it, whether it is in the page's live part."""
    before: list[bool] = []
    for press in range(limit):
        if press == 0:
            tab_from_the_top(page)
        else:
            page.keyboard.press("Tab")
        where = page.evaluate(
            "id => { const el = document.activeElement;"
            " return el.id === id ? null : !!el.closest('#live'); }",
            element_id,
        )
        if where is None:
            return before
        before.append(where)
    raise AssertionError(f"Tab did not reach #{element_id} in {limit} presses")


# --- accessibility ------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: v.name)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_finds_nothing_serious_on_any_page(
    product: Product, new_page: NewPage, scheme: str, viewport: Viewport
) -> None:
    page = new_page(viewport, color_scheme=scheme)
    found: list[str] = []
    for path in product_pages(product, page):
        open_ok(page, product.url(path))
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
            scheme == "dark"
        )
        open_details(page)
        found += [f"{path}: {v}" for v in axe_violations(page)]
    assert found == []


# --- with a token -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """The product with an API token: every page needs a signed-in browser."""
    with start_product(tmp_path_factory.mktemp("secured"), api_token=TOKEN) as running:
        yield running


def fetch_status(page: Page, path: str) -> tuple[int, str]:
    """Fetch ``path`` from the page's own origin as its script would, with the browser's
    cookies; the status and the body. (Not from the sign-in page: its policy forbids fetches.)"""
    result = page.evaluate(
        "path => fetch(path).then(r => r.text().then(body => [r.status, body]))", path
    )
    return int(result[0]), str(result[1])


def test_without_signing_in_every_page_leads_to_the_sign_in(secured: Product, page: Page) -> None:
    for path in ("/", f"{MODEL_PAGE}?range=7d", f"/endpoints/{AZURE}", "/reports", CARD):
        open_ok(page, secured.url(path))
        assert urlsplit(page.url).path == "/login", path
        assert parse_qs(urlsplit(page.url).query)["next"] == [path]
        assert page.get_by_role("heading", name="Sign in").is_visible()
        assert page.get_by_label("Access token").is_visible()
        assert page.get_by_test_id("live-card").count() == 0
    # A badge, fetched with the browser's cookies (none yet), says a token is needed.
    badge = page.request.get(secured.url(BADGE))
    assert badge.status == 401 and "token required" in badge.text()
    assert badge.headers["content-type"] == "image/svg+xml"


def test_the_sign_in_form_refuses_a_wrong_token_and_opens_the_page_with_the_right_one(
    secured: Product, page: Page
) -> None:
    target = f"{MODEL_PAGE}?range=7d"
    open_ok(page, secured.url(target))
    field = page.get_by_label("Access token")

    field.fill("not-the-token")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert text(alert) == WRONG_TOKEN
    assert urlsplit(page.url).path == "/login"
    assert field.get_attribute("aria-invalid") == "true" and field.input_value() == ""
    assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
    watch(page).clear()  # the refused sign-in's 400 is meant

    field.fill(TOKEN)
    with page.expect_navigation():
        field.press("Enter")
    assert path_of(page.url) == target
    assert text(page.locator("h1")).startswith(MODEL)
    assert page.get_by_test_id("live-card").is_visible()
    assert page.locator("[aria-current=true]", has_text="7d").count() == 1
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and TOKEN not in cookie["value"]
    assert fetch_status(page, BADGE)[0] == 200
    open_ok(page, secured.url("/"))
    assert urlsplit(page.url).path == "/"


def test_the_sign_in_page_has_nothing_serious_for_axe(secured: Product, new_page: NewPage) -> None:
    found: list[str] = []
    for scheme in SCHEMES:
        for viewport in VIEWPORTS:
            page = new_page(viewport, color_scheme=scheme)
            open_ok(page, secured.url(f"/login?next={MODEL_PAGE}"))
            found += [f"{scheme} {viewport.name} form: {v}" for v in axe_violations(page)]
            page.get_by_label("Access token").fill("wrong")
            with page.expect_navigation():
                page.get_by_role("button", name="Sign in").click()
            assert page.get_by_role("alert").is_visible()
            found += [f"{scheme} {viewport.name} error: {v}" for v in axe_violations(page)]
            watch(page).clear()  # the refused sign-in's 400 is meant
    assert found == []


# --- worlds with little or much in them ---------------------------------------------------------


def open_details(page: Page) -> None:
    """Open every ``<details>`` (the charts' "Numbers"), so that what they hide is checked too."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")


def check_pages(
    new_page: NewPage,
    base: str,
    checks: dict[str, Callable[[Page], None]],
    looks: tuple[tuple[str, Viewport], ...] = (("light", LAPTOP), ("dark", PHONE)),
    axe_options: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Open each page in each look (scheme, viewport), run its check and axe-core on it (with
    ``axe_options[path]``, if any)."""
    found: list[str] = []
    for scheme, viewport in looks:
        page = new_page(viewport, color_scheme=scheme)
        for path, check in checks.items():
            open_ok(page, base + path)
            check(page)
            open_details(page)
            options = (axe_options or {}).get(path)
            found += [
                f"{scheme} {viewport.name} {path}: {v}"
                for v in axe_violations(page, options=options)
            ]
    assert found == []


def shows(page: Page, testid: str, expected: str, *, where: Locator | None = None) -> None:
    """The first element ``testid`` (in ``where``) is shown and reads ``expected``."""
    assert text((where or page.locator("body")).get_by_test_id(testid).first) == expected, testid


def test_an_empty_store_renders_its_placeholders(tmp_path: Path, new_page: NewPage) -> None:
    config = world_config(
        f"sqlite:///{tmp_path / 'empty.db'}",
        [endpoint_spec(0, "m"), endpoint_spec(1, "m")],
        [{"id": "m"}, {"id": "lonely"}],
    )
    view = build(config, [], probes=False, published=False)

    def status(page: Page) -> None:
        card = page.locator("[data-testid=live-card][data-model=m]")
        assert shown_card(card) == {
            "card-uptime": "—",
            "card-ttft": "—",
            "card-throughput": "—",
            "card-active": "0/2",
            "card-via": "Available via: no active endpoint",
        }
        for row in page.get_by_test_id("endpoint-row").all():
            assert text(row.get_by_test_id("endpoint-state")) == "unknown"
            for testid in ("endpoint-ttft", "endpoint-uptime", "endpoint-last-probe"):
                shows(page, testid, "—", where=row)
        lonely = page.locator("[data-testid=model-group][data-model=lonely]")
        assert "No endpoint serves this model." in text(lonely)

    def model(page: Page) -> None:
        assert "No complete window with probes yet" in text(page.get_by_test_id("live-card"))
        shows(page, "endpoint-probes", "no data")
        no_lines(page)

    def endpoint(page: Page) -> None:
        shows(page, "endpoint-last-probe", "none yet")
        shows(page, "endpoint-uptime", "—")
        no_lines(page)

    def reports(page: Page) -> None:
        assert "No window has finished" in text(page.get_by_test_id("no-reports"))

    def card(page: Page) -> None:
        assert shown_card(page.get_by_test_id("live-card"))["card-active"] == "0/2"

    try:
        with serving(view) as base:
            check_pages(
                new_page,
                base,
                {
                    "/": status,
                    "/models/m": model,
                    "/models/lonely": lambda p: None,
                    "/endpoints/ep-0000": endpoint,
                    "/reports": reports,
                    "/models/m/card": card,
                },
            )
    finally:
        view.store.close()


def no_lines(page: Page) -> None:
    """Every chart has its series, none with a point, and says so."""
    series = page.get_by_test_id("chart-series")
    assert series.count() > 0
    assert {s.get_attribute("data-points") for s in series.all()} == {"0"}
    numbers = page.locator("[data-testid=chart] details").first
    numbers.locator("summary").click()
    assert "—" in text(numbers)


def test_a_model_never_probed_and_an_endpoint_never_successful_render(
    world: View, new_page: NewPage
) -> None:
    def fresh_model(page: Page) -> None:
        card = shown_card(page.get_by_test_id("live-card"))
        assert card["card-uptime"] == card["card-ttft"] == card["card-throughput"] == "—"
        assert card["card-active"] == "0/1"
        shows(page, "endpoint-probes", "no data")
        no_lines(page)

    def fresh_endpoint(page: Page) -> None:
        shows(page, "endpoint-state", "unknown")
        shows(page, "endpoint-last-probe", "none yet")
        no_lines(page)

    def gateway(page: Page) -> None:
        shows(page, "endpoint-state", "down")
        shows(page, "endpoint-ttft", "— / —")
        assert text(page.get_by_test_id("last-error").first).startswith("server_error")
        # Its uptime line is drawn (at 0 %), its latency lines have no point.
        points = {
            c.get_attribute("data-metric"): c.get_by_test_id("chart-series").get_attribute(
                "data-points"
            )
            for c in page.get_by_test_id("chart").all()
        }
        assert points["ttft_p50"] == points["speed_p50"] == "0"
        assert int(points["uptime"] or 0) > 0

    def status(page: Page) -> None:
        for e in ("fresh", "gateway"):
            row = page.locator(f"[data-testid=endpoint-row][data-endpoint={e}]")
            shows(page, "endpoint-ttft", "—", where=row)
        gateway_row = page.locator("[data-testid=endpoint-row][data-endpoint=gateway]")
        assert text(gateway_row.get_by_test_id("last-error")).startswith("server_error")

    with serving(world) as base:
        check_pages(
            new_page,
            base,
            {
                "/": status,
                "/models/fresh-model": fresh_model,
                "/endpoints/fresh": fresh_endpoint,
                "/endpoints/gateway": gateway,
                "/models/llama": lambda p: None,
            },
        )


def test_a_thousand_endpoints_render_a_page_at_a_time(tmp_path: Path, new_page: NewPage) -> None:
    models = [{"id": f"model-{m:02d}"} for m in range(40)]
    endpoints = [endpoint_spec(i, f"model-{i % 40:02d}") for i in range(1000)]
    config = world_config(f"sqlite:///{tmp_path / 'big.db'}", endpoints, models)
    failing, unprobed = ["ep-0500"], ["ep-0001"]
    view = build(config, history(config, 4, failing=failing), failing=failing, unprobed=unprobed)

    def status(page: Page) -> None:
        assert page.get_by_test_id("endpoint-row").count() == 100
        assert page.get_by_test_id("pagination").first.is_visible()
        first = page.get_by_test_id("endpoint-row").first
        assert first.get_attribute("data-endpoint") == "ep-0500"
        assert text(first.get_by_test_id("endpoint-state")) == "down"
        assert "1,000 endpoints of 40 models" in text(page.get_by_test_id("status-summary"))

    def last_page(page: Page) -> None:
        assert page.get_by_test_id("endpoint-row").count() == 100
        current = page.get_by_test_id("pagination").first.locator("[aria-current=page]")
        assert text(current) == "10"

    def model(page: Page) -> None:
        assert page.get_by_test_id("endpoint-row").count() == 25
        chart = page.get_by_test_id("chart").first
        assert chart.get_by_test_id("chart-series").count() == 8
        assert "17 more endpoint(s) not drawn" in text(chart.locator(".note"))
        never = page.locator("[data-testid=endpoint-row][data-endpoint=ep-0001]")
        shows(page, "endpoint-probes", "no data", where=never)
        shows(page, "endpoint-ttft-p50", "—", where=never)

    def endpoint(page: Page) -> None:
        shows(page, "endpoint-state", "unknown")
        shows(page, "endpoint-last-probe", "none yet")
        no_lines(page)

    def report(page: Page) -> None:
        assert page.get_by_test_id("summary-row").count() == 1000
        never = page.locator("[data-testid=summary-row][data-endpoint=ep-0001]")
        assert never.is_visible() and NO_DATA in never.locator("td").all_inner_texts()
        assert page.get_by_test_id("downloads").is_visible()

    window = f"/reports/{LAST_WINDOW:%Y%m%dT%H%MZ}"
    try:
        with serving(view) as base:
            check_pages(
                new_page,
                base,
                {
                    "/": status,
                    "/?page=10": last_page,
                    "/models/model-01": model,
                    "/endpoints/ep-0001": endpoint,
                    window: report,
                },
                looks=(("light", LAPTOP),),
                # The report of a thousand endpoints is 20,000 elements, where axe's contrast
                # rule alone takes half a minute; the report page's colours are checked on the
                # product's reports in both themes (test_axe_finds_nothing_serious_on_any_page).
                axe_options={window: {"rules": {"color-contrast": {"enabled": False}}}},
            )
    finally:
        view.store.close()
