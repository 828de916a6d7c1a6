"""``GET /endpoints/{id}``: its state and last error, its bar and charts, its recent probes and
its windows."""

from __future__ import annotations

from datetime import timedelta

import httpx

from monitor.core.shape import utc_text
from tests.store.factories import make_probe
from tests.web.pages import page
from tests.web.world import NOW, View


async def test_the_head_shows_the_state_settings_and_numbers_the_api_gives(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/endpoints/azure-eastus")
    (state,) = [
        e
        for e in (await client.get("/api/v1/endpoints")).json()["endpoints"]
        if e["id"] == "azure-eastus"
    ]

    head = root.one(testid="endpoint-header")
    assert head.get("data-state") == state["state"] == "up"
    assert head.one(testid="endpoint-state").text() == "up"
    facts = {d.one("dt").text(): d.one("dd").text() for d in head.one("dl").find_all("div")}
    assert facts["model"] == "gpt-4.1-nano"
    assert facts["provider"] == "Azure"
    assert facts["region"] == "eastus"
    assert facts["deployment"] == "nano"
    assert facts["probes"] == "every minute, timeout 10 seconds"
    assert (
        float(head.one(testid="endpoint-ttft").get("data-value"))
        == (state["last_window"]["ttft_p50_seconds"])
    )
    assert root.one(testid="uptime-bar", data_endpoint="azure-eastus")
    charts = root.find_all(testid="chart")
    assert [len(c.find_all(testid="chart-series")) for c in charts] == [1, 1, 1, 1]


async def test_recent_probes_are_the_stored_ones_newest_first(world: View) -> None:
    older = [
        make_probe(
            endpoint="openai",
            provider="openai",
            region=None,
            error=None,
            started_at=NOW - timedelta(minutes=5 + i),
            ttft_seconds=0.4 + i / 100,
        )
        for i in range(60)
    ]
    world.store.add_probes(older)
    from tests.web.pages import client_of

    async with await client_of(world) as client:
        root = await page(client, "/endpoints/openai")

    rows = root.one(testid="probes-table").find_all(testid="probe-row")
    stored = world.store.probes(endpoint="openai", limit=50)
    assert len(rows) == 50
    assert [r.one("time").get("datetime") for r in rows] == [
        utc_text(p.started_at, micros=False) for p in stored
    ]
    assert [float(r.get("data-ttft")) for r in rows] == [p.ttft_seconds for p in stored]


async def test_a_failing_endpoint_shows_down_with_its_error_and_failed_probes(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/endpoints/mini-azure")

    assert root.one(testid="endpoint-header").get("data-state") == "down"
    assert root.one(testid="last-error").text() == (
        "server_error: HTTP 503: the deployment is overloaded"
    )
    (probe,) = root.one(testid="probes-table").find_all(testid="probe-row")
    assert probe.get("data-outcome") == "server_error"
    assert "HTTP 503: the deployment is overloaded" in probe.text()
    windows = root.one(testid="windows-table").find_all(testid="window-row")
    assert windows[0].get("data-window-start") == "2025-06-01T12:00:00Z"
    assert windows[0].get("data-uptime") == "0.0"
    assert "timeout 30" in windows[0].text()


async def test_an_endpoint_that_never_succeeded_has_no_latency_and_no_uptime(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/endpoints/gateway")

    head = root.one(testid="endpoint-header")
    assert head.get("data-state") == "down"
    assert head.one(testid="endpoint-uptime").text() == "0.0%"
    assert head.one(testid="endpoint-ttft").text() == "— / —"
    assert {c.get("class") for c in root.one(testid="uptime-bar").find_all("rect")} == {"u0"}
    ttft = root.one(testid="chart", data_metric="ttft_p50")
    assert ttft.one(testid="chart-series").get("data-points") == "0"
    uptime = root.one(testid="chart", data_metric="uptime")
    assert uptime.one(testid="chart-series").get("data-points") == "48"


async def test_an_endpoint_never_probed_says_so(client: httpx.AsyncClient) -> None:
    root = await page(client, "/endpoints/fresh")

    assert root.one(testid="endpoint-header").get("data-state") == "unknown"
    assert "No probe of this endpoint is stored yet." in root.text()
    assert "No window of this endpoint has been rolled up yet" in root.text()
    assert root.find_all(testid="probes-table") == []


async def test_an_unknown_endpoint_is_a_404_page_naming_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/endpoints/nope", status=404)

    assert root.one("h1").text() == "Unknown endpoint"
    assert root.one(testid="error-message").text() == (
        "No endpoint 'nope' is configured. Known: openai, azure-eastus, mini-openai, "
        "mini-azure, gateway, fresh."
    )
