"""``GET /models/{id}`` and ``/models/{id}/card``: the live card with the seed's figures, the
model's facts, its endpoints side by side and its charts over 24 h, 7 d or 30 d."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from monitor.reports.text import millis, percent
from tests.web.markup import Element
from tests.web.pages import client_of, page
from tests.web.test_status_page import card_matches_profile
from tests.web.world import LAST_WINDOW, WINDOW, build, endpoint_spec, rollup, world_config


def _value(element: Element) -> float | None:
    text = element.get("data-value")
    return None if text == "" else float(text)


async def test_the_live_card_has_the_seeds_figures_from_the_profile(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/models/gpt-4.1-nano")
    profile = (await client.get("/api/v1/models/gpt-4.1-nano/profile")).json()

    card = root.one(testid="live-card")
    card_matches_profile(card, profile["live"])
    assert card.one("h2").text() == "Live performance"
    assert card.one(testid="card-refresh").text() == (
        "Live endpoint metrics — refreshed every 30 minutes."
    )
    assert card.one(testid="card-refresh").get("data-value") == str(
        profile["refresh_interval_seconds"]
    )
    assert card.one(testid="card-via").text() == "Available via: OpenAI, Azure"
    assert card.one(testid="card-active").one("dd").text() == "2/2"
    assert root.one("h1").text() == "gpt-4.1-nano OpenAI: GPT-4.1 Nano"


async def test_the_facts_are_the_models_configured_ones(client: httpx.AsyncClient) -> None:
    root = await page(client, "/models/gpt-4.1-nano")

    facts = {
        d.get("data-fact"): d.one("dd").text()
        for d in root.one(testid="model-facts").find_all("div")
    }
    assert facts == {
        "creator": "openai",
        "released": "2025-04-14",
        "pricing": "$0.10 input · $0.40 output · $0.025 cached input per 1M tokens",
        "context window": "1,047,576 tokens",
        "max output": "32,768 tokens",
        "modality": "text+image+file->text",
        "capabilities": "tool_use, vision",
        "mmlu": "0.801",
        "family": "GPT-4.1",
    }


async def test_the_endpoints_table_is_the_profiles_lines_with_their_state(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/models/gpt-4o-mini")
    live = (await client.get("/api/v1/models/gpt-4o-mini/profile")).json()["live"]
    states = {e["id"]: e for e in (await client.get("/api/v1/endpoints")).json()["endpoints"]}

    rows = root.one(testid="endpoints-table").find_all(testid="endpoint-row")
    assert [r.get("data-endpoint") for r in rows] == [x["endpoint"] for x in live["endpoints"]]
    for row, line in zip(rows, live["endpoints"], strict=True):
        state = states[line["endpoint"]]
        assert row.get("data-state") == state["state"]
        cells = [c.text() for c in row.find_all("td")]
        assert cells[0] == state["provider_name"]
        assert cells[1] == (line["region"] or "—")
        assert _value(row.one(testid="endpoint-uptime")) == line["uptime_ratio"]
        assert row.one(testid="endpoint-uptime").text() == percent(line["uptime_ratio"])
        assert _value(row.one(testid="endpoint-ttft-p50")) == line["ttft_p50_seconds"]
        assert row.one(testid="endpoint-ttft-p50").text() == millis(line["ttft_p50_seconds"])
        assert _value(row.one(testid="endpoint-ttft-p95")) == line["ttft_p95_seconds"]
        assert _value(row.one(testid="endpoint-speed-p50")) == line["output_tokens_per_second_p50"]
        assert _value(row.one(testid="endpoint-probes")) == line["probes"]
    failing = root.one(testid="endpoint-row", data_endpoint="mini-azure")
    assert failing.one(testid="last-error").text().startswith("server_error: HTTP 503")


async def test_the_charts_draw_one_series_per_endpoint_per_window_over_a_day(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/models/gpt-4.1-nano")

    charts = root.find_all(testid="chart")
    assert [c.get("data-metric") for c in charts] == ["ttft_p50", "ttft_p95", "speed_p50", "uptime"]
    for chart in charts:
        series = chart.find_all(testid="chart-series")
        assert [s.get("data-endpoint") for s in series] == ["openai", "azure-eastus"]
        # A day of 30-minute windows, every one with data: a point per window.
        assert {s.get("data-points") for s in series} == {"48"}
        assert [li.text() for li in chart.one("ul").find_all("li")] == ["openai", "azure-eastus"]
        assert chart.one("svg", role="img").get("aria-labelledby")
        assert "one line per endpoint" in chart.one("desc").text()
        assert "One point per window of 30 minutes." in chart.one("p").text()
        table = chart.one("table")
        assert [r.one("th").text() for r in table.one("tbody").find_all("tr")] == [
            "openai",
            "azure-eastus",
        ]
    units = [c.one("figcaption").text() for c in charts]
    assert units == ["TTFT p50 (ms)", "TTFT p95 (ms)", "Output speed p50 (tok/s)", "Uptime (%)"]
    picker = root.one(testid="range-picker")
    assert [a.get("href") for a in picker.find_all("a")] == [
        "/models/gpt-4.1-nano?range=1h",
        "/models/gpt-4.1-nano?range=24h",
        "/models/gpt-4.1-nano?range=7d",
        "/models/gpt-4.1-nano?range=30d",
    ]
    assert picker.one("a", aria_current="true").text() == "24h"


async def test_longer_ranges_bucket_windows_with_exact_uptime_and_median_latency(
    tmp_path: Path,
) -> None:
    # Seven days of one endpoint, 30 probes a window, but the six windows of the 3-hour cell
    # that ends at the last window: 10, 20, ..., 60 probes with 0, 1, ..., 5 failures, and
    # p50s of 6, 5, ..., 1 s.
    config = world_config(f"sqlite:///{tmp_path / 'w.db'}", [endpoint_spec(0, "m")], [{"id": "m"}])
    rollups = []
    for k in range(7 * 48):
        start = LAST_WINDOW - k * WINDOW
        bad = k if k < 6 else 0
        probes = 10 * (k + 1) if k < 6 else 30
        ttft = float(6 - k) if k < 6 else 0.5
        rollups.append(
            rollup(
                "ep-0000",
                "m",
                "openai",
                None,
                start,
                successes=probes - bad,
                failures={"timeout": bad},
                ttft=ttft,
            )
        )
    view = build(config, rollups)
    async with await client_of(view) as client:
        week = await page(client, "/models/m?range=7d")
        month = await page(client, "/models/m?range=30d")
    view.store.close()

    # 7 days of 30-minute windows is 336 > 300 points: cells of 2 windows (1 hour).
    uptime = week.one(testid="chart", data_metric="uptime")
    assert uptime.one(testid="chart-series").get("data-points") == "168"
    assert "One point per hour (2 windows of 30 minutes)" in uptime.one("p").text()
    assert "median of its windows' p50" in uptime.one("p").text()
    # 30 days: 1,440 windows → 3-hour cells (6 windows), 240 points, 56 of them with data.
    uptime = month.one(testid="chart", data_metric="uptime")
    assert uptime.one(testid="chart-series").get("data-points") == "56"
    latest = uptime.one("tbody").find_all("td")[0].text()
    # Exact over the cell's probes: (210 - 15) / 210, not the mean of the windows' ratios
    # (which would be 94.0%).
    assert latest == percent(195 / 210) == "92.8%"
    median = month.one(testid="chart", data_metric="ttft_p50").one("tbody").find_all("td")[0]
    assert median.text() == "3,500 ms"  # the median of 1..6 s


async def test_a_model_with_no_probes_yet_shows_placeholders(client: httpx.AsyncClient) -> None:
    root = await page(client, "/models/fresh-model")

    card = root.one(testid="live-card")
    for name in ("card-uptime", "card-ttft", "card-throughput"):
        assert card.one(testid=name).one("dd").text() == "—"
        assert card.one(testid=name).get("data-value") == ""
    assert card.one(testid="card-active").one("dd").text() == "0/1"
    row = root.one(testid="endpoint-row", data_endpoint="fresh")
    assert row.one(testid="endpoint-probes").text() == "no data"
    assert row.get("data-state") == "unknown"
    for chart in root.find_all(testid="chart"):
        assert chart.one(testid="chart-series").get("data-points") == "0"
        assert "fresh: no data" in chart.one("desc").text()
    assert "No facts are configured" in root.text()


async def test_an_unknown_model_is_a_404_page_with_links_back(client: httpx.AsyncClient) -> None:
    for url in ("/models/no-such-model", "/models/no-such-model/card"):
        root = await page(client, url, status=404)

        assert root.one(testid="error-page").get("data-status") == "404"
        message = root.one(testid="error-message").text()
        assert message.startswith("No model 'no-such-model' is configured. Known: gpt-4.1-nano")
        assert {a.get("href") for a in root.one("main").find_all("a")} == {"/", "/reports"}


async def test_a_range_the_page_does_not_draw_is_a_400_page(client: httpx.AsyncClient) -> None:
    root = await page(client, "/models/gpt-4.1-nano?range=1y", status=400)

    assert root.one(testid="error-message").text() == (
        "range must be one of 1h, 24h, 7d, 30d, not '1y'"
    )


async def test_the_card_alone_is_a_small_document_with_the_same_numbers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/models/gpt-4.1-nano/card")
    root = await page(client, "/models/gpt-4.1-nano/card")
    live = (await client.get("/api/v1/models/gpt-4.1-nano/profile")).json()["live"]

    card_matches_profile(root.one(testid="live-card"), live)
    assert root.one("h1").text() == "Live performance"
    assert root.one("body").get("class") == "embed"
    assert root.find_all("header") == [] and root.find_all("nav") == []
    link = root.one("a", target="_top")
    assert link.get("href") == "/models/gpt-4.1-nano"
    assert len(response.content) < 4000
    assert "x-frame-options" not in response.headers  # it is made to be framed


async def test_several_locations_show_on_the_card_and_in_a_table_by_location(
    tmp_path: Path,
) -> None:
    # ep-0000 is probed from three locations and fails from frankfurt alone: up by quorum,
    # down from frankfurt; ep-0001 is fastest from singapore.
    config = world_config(
        f"sqlite:///{tmp_path / 'w.db'}",
        [endpoint_spec(0, "m"), endpoint_spec(1, "m")],
        [{"id": "m"}],
    )
    places = {
        "ep-0000": {"frankfurt": (0, 0.9), "singapore": (30, 0.6), "virginia": (30, 0.5)},
        "ep-0001": {"frankfurt": (30, 0.7), "singapore": (30, 0.3), "virginia": (30, 0.8)},
    }
    rollups = []
    for e, (provider, region) in (("ep-0000", ("openai", None)), ("ep-0001", ("azure", "eastus"))):
        for where, (ok, ttft) in places[e].items():
            own = rollup(e, "m", provider, region, LAST_WINDOW, successes=ok, ttft=ttft)
            failed = {"server_error": 30 - ok}
            rollups.append(
                replace(
                    own,
                    location=where,
                    outcomes={**own.outcomes, **failed} if ok < 30 else own.outcomes,
                    probes=30,
                    uptime_ratio=ok / 30,
                )
            )
        across = rollup(e, "m", provider, region, LAST_WINDOW, successes=60, ttft=0.6)
        failed = {"server_error": 30} if e == "ep-0000" else {}
        rollups.append(
            replace(
                across,
                outcomes={**across.outcomes, **failed},
                probes=60 + len(failed) * 30,
                locations=3,
                slots_up=30,
                slots_down=0,
                uptime_ratio=1.0,
            )
        )
    client = await client_of(build(config, rollups))
    async with client:
        root = await page(client, "/models/m")
        live = (await client.get("/api/v1/models/m/profile")).json()["live"]
        endpoint_root = await page(client, "/endpoints/ep-0000")

    assert live["locations"] == ["frankfurt", "singapore", "virginia"]
    card = root.one(testid="live-card")
    assert card.one(testid="card-locations").text() == "(3 locations)"
    assert card.one(testid="card-uptime").one("dd").text() == "100.0%"  # by quorum
    assert card.one(testid="card-ttft-from").text() == "from singapore"
    assert card.one(testid="card-ttft").one("dd").text() == millis(0.3)
    rows = root.one(testid="locations-table").find_all(testid="location-row")
    assert [(r.get("data-endpoint"), r.get("data-location")) for r in rows] == [
        (e, where) for e in places for where in places[e]
    ]
    shown = {
        (r.get("data-endpoint"), r.get("data-location")): r.one(testid="location-uptime").text()
        for r in rows
    }
    assert shown[("ep-0000", "frankfurt")] == "0.0%"
    assert shown[("ep-0000", "virginia")] == "100.0%"
    singapore = rows[4]
    assert singapore.one(testid="location-ttft-p50").text() == millis(0.3)
    assert singapore.one(testid="location-probes").text() == "30"
    # The endpoint's own page has its locations alone.
    alone = endpoint_root.one(testid="endpoint-locations").find_all(testid="location-row")
    assert [r.get("data-location") for r in alone] == list(places["ep-0000"])
    assert alone[0].one(testid="location-uptime").text() == "0.0%"


async def test_one_location_shows_no_location_table_and_the_card_as_before(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/models/gpt-4.1-nano")
    card = root.one(testid="live-card")
    assert card.find_all(testid="card-locations") == []
    assert card.find_all(testid="card-ttft-from") == []
    assert root.find_all(testid="locations-table") == []
