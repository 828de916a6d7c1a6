"""What every page shares: a valid document with unique ids and nothing from another site,
its refresh without a meta refresh, its style sheet and script, HTML error pages (the JSON API
keeping its JSON errors), and its work done off the event loop."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.api.app import create_app
from monitor.core.errors import StoreError
from monitor.store import Store
from tests.web.pages import client_of, config_at, page
from tests.web.world import NOW, View, build, history

PAGES = [
    "/",
    "/models/gpt-4.1-nano",
    "/models/gpt-4.1-nano?range=7d",
    "/models/gpt-4.1-nano?range=30d",
    "/models/fresh-model",
    "/models/gpt-4.1-nano/card",
    "/endpoints/openai",
    "/endpoints/mini-azure?range=30d",
    "/endpoints/gateway",
    "/endpoints/fresh",
    "/reports",
    "/reports/20250601T1200Z",
]


@pytest.mark.parametrize("url", PAGES)
async def test_every_page_is_a_valid_document_with_nothing_from_another_site(
    client: httpx.AsyncClient, url: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 200
    assert "http://" not in response.text and "https://" not in response.text
    root = await page(client, url)  # parses, unique ids, references resolve, no meta refresh

    head = root.one("head")
    assert head.one("meta", name="viewport").get("content") == "width=device-width, initial-scale=1"
    styles = [link.get("href") for link in head.find_all("link", rel="stylesheet")]
    scripts = [script.get("src") for script in head.find_all("script")]
    assert [s.split("?")[0] for s in styles] == ["/static/pages.css"]
    assert [s.split("?")[0] for s in scripts] == ["/static/pages.js"]
    assert root.find_all("script", src=None) == []  # no inline script
    if url.endswith("/card"):
        return
    assert root.one("a", **{"class": "skip-link"}).get("href") == "#main"
    assert root.one("main").get("id") == "main"
    assert len(root.find_all("h1")) == 1


@pytest.mark.parametrize(
    "url", ["/", "/models/gpt-4.1-nano", "/endpoints/openai", "/models/gpt-4.1-nano/card"]
)
async def test_live_pages_refresh_by_script_with_a_pause_button_and_a_reload_link(
    client: httpx.AsyncClient, url: str
) -> None:
    root = await page(client, url)

    # The probes run every 60 s in this world: the page asks for itself every 60 s.
    assert root.one("body").get("data-refresh-seconds") == "60"
    assert root.one("div", id="live")
    updated = root.one(testid="updated-at")
    assert updated.get("id") == "updated" and updated.get("aria-live") == "polite"
    assert updated.text() == "Updated at 2025-06-01 12:31:00 UTC"
    assert updated.one("time").get("datetime") == "2025-06-01T12:31:00Z"
    assert root.one(testid="reload").get("href") == url
    toggle = root.one(testid="refresh-toggle")
    assert toggle.tag == "button" and toggle.get("aria-pressed") == "false"
    assert "hidden" in toggle.attrs  # shown by the script, useless without it


@pytest.mark.parametrize(("interval", "seconds"), [("5s", "30"), ("90s", "90"), ("1h", "300")])
async def test_the_refresh_follows_the_probe_interval_within_30_s_and_5_minutes(
    tmp_path: Path, interval: str, seconds: str
) -> None:
    config = config_at(tmp_path, probe={"interval": interval, "timeout": "5s"})
    view = build(config, [], probes=False, published=False)
    async with await client_of(view) as client:
        root = await page(client, "/")
    view.store.close()

    assert root.one("body").get("data-refresh-seconds") == seconds


async def test_times_are_utc_in_time_elements(client: httpx.AsyncClient) -> None:
    root = await page(client, "/endpoints/openai")

    times = root.find_all("time")
    assert times
    for t in times:
        assert t.get("datetime").endswith("Z")


async def test_the_style_sheet_script_and_icon_are_served_and_cached_by_their_hash(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/")
    links = [
        root.one("link", rel="stylesheet").get("href"),
        root.one("script").get("src"),
        root.one("link", rel="icon").get("href"),
    ]
    types = ["text/css; charset=utf-8", "text/javascript; charset=utf-8", "image/svg+xml"]

    for link, kind in zip(links, types, strict=True):
        response = await client.get(link)
        assert response.status_code == 200
        assert response.headers["content-type"] == kind
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "http://" not in response.text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in response.text
        again = await client.get(link, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
    assert (await client.get("/static/pages.css")).headers["cache-control"] == "no-cache"
    missing = await client.get("/static/nothing.js")
    assert missing.status_code == 404


async def test_the_json_api_keeps_its_json_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/models/nope/profile")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (await client.get("/no/such/route")).json()["error"]["code"] == "not_found"


class _BrokenStore:
    """A store whose every read fails as a database that went away does."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise StoreError("cannot read rollups from sqlite:///gone.db: disk I/O error")

        return fail


async def test_a_store_that_cannot_be_read_gives_a_503_page(world: View) -> None:
    broken = View(world.config, _BrokenStore(world.store), world.current, world.last)
    async with await client_of(broken) as client:
        for url in (
            "/",
            "/models/gpt-4.1-nano",
            "/endpoints/openai",
            "/reports",
            "/reports/20250601T1200Z",
            "/reports/20250601T1200Z.csv",
        ):
            root = await page(client, url, status=503)
            assert root.one("h1").text() == "The store cannot be read"
            assert "disk I/O error" in root.one(testid="error-message").text()
        # The card needs no store read: it is served from the published profile.
        await page(client, "/models/gpt-4.1-nano/card")


class _FailingView(View):
    def last_probes(self) -> Any:
        raise RuntimeError("secret-looking detail that must not be shown")


async def test_an_unexpected_failure_gives_a_500_page_that_shows_no_detail(world: View) -> None:
    failing = _FailingView(world.config, world.store, world.current, world.last)
    async with await client_of(failing) as client:
        response = await client.get("/")

    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "Something went wrong" in response.text
    assert "secret-looking" not in response.text


class _ThreadNotingStore:
    """Passes every call to the real store, noting the thread and the method."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.get_ident()))
            return attribute(*args, **kwargs)

        return call


async def test_pages_read_the_store_and_render_on_worker_threads_only(world: View) -> None:
    noting = _ThreadNotingStore(world.store)
    view = View(world.config, noting, world.current, world.last)
    app = create_app(view, clock=lambda: NOW)
    loop_thread = threading.get_ident()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as c:
        for url in [*PAGES, "/reports/20250601T1200Z.md"]:
            assert (await c.get(url)).status_code == 200

    assert {name for name, _ in noting.calls} >= {
        "window_points",
        "probes",
        "rollups",
        "rollup_window_starts",
    }
    assert all(thread != loop_thread for _, thread in noting.calls)


async def test_what_changes_once_per_window_is_read_once_per_window(world: View) -> None:
    noting = _ThreadNotingStore(world.store)
    view = View(world.config, noting, world.current, world.last)
    app = create_app(view, clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m") as c:
        for _ in range(3):
            for url in ("/", "/models/gpt-4.1-nano?range=30d", "/endpoints/openai"):
                assert (await c.get(url)).status_code == 200

    reads = [name for name, _ in noting.calls if name == "window_points"]
    # Bars of the status page's endpoints, the model's charts, the endpoint's charts: once.
    assert len(reads) == 3


async def test_a_thousand_endpoints_in_one_model_keep_the_model_page_small(
    tmp_path: Path,
) -> None:
    from tests.web.world import endpoint_spec, world_config

    endpoints = [endpoint_spec(i, "big") for i in range(1000)]
    config = world_config(f"sqlite:///{tmp_path / 'big.db'}", endpoints, [{"id": "big"}])
    view = build(config, history(config, 2))
    async with await client_of(view) as client:
        root = await page(client, "/models/big")
        last = await page(client, "/models/big?page=10&range=7d")
    view.store.close()

    assert len(root.one(testid="endpoints-table").find_all(testid="endpoint-row")) == 100
    assert len(last.one(testid="endpoints-table").find_all(testid="endpoint-row")) == 100
    for chart in root.find_all(testid="chart"):
        assert len(chart.find_all(testid="chart-series")) == 8
        assert "992 more endpoint(s) not drawn" in chart.one("p").text()
    links = [a.get("href") for a in root.one(testid="pagination").find_all("a")]
    assert "/models/big?page=10&range=24h" in links


async def test_no_page_ever_shows_an_api_key(tmp_path: Path) -> None:
    import yaml

    from monitor.config import parse_config
    from tests.web.pages import ENDPOINTS, MODELS

    canary = "sk-canary-pages-5d1e9b7c3a"
    raw = {"storage": {"url": f"sqlite:///{tmp_path / 'c.db'}"}, "models": MODELS,
           "endpoints": ENDPOINTS}  # fmt: skip
    config = parse_config(yaml.safe_dump(raw), environ={"K": canary})
    key = config.endpoints[0].api_key
    assert key is not None and key.get_secret_value() == canary
    view = build(config, history(config, 4))
    async with await client_of(view) as client:
        for url in [*PAGES, "/reports/20250601T1200Z.md", "/reports/20250601T1200Z.json",
                    "/models/nope", "/endpoints/nope"]:  # fmt: skip
            response = await client.get(url)
            assert canary not in response.text and canary[:12] not in response.text, url
    view.store.close()
