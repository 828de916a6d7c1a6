"""``GET /``: every model with its live card, every endpoint with its state, its uptime bar of
the last 24 hours, its TTFT and its last error, failing first, a hundred at a time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from monitor.reports.text import millis, percent, tokens_per_second
from tests.web.markup import Element
from tests.web.pages import client_of, page
from tests.web.world import (
    LAST_WINDOW,
    NOW,
    WINDOW,
    View,
    build,
    endpoint_spec,
    history,
    rollup,
    world_config,
)


def _value(element: Element) -> float | None:
    text = element.get("data-value")
    return None if text == "" else float(text)


def card_matches_profile(card: Element, live: dict[str, Any]) -> None:
    """The card's figures are the profile's live numbers, written as the terminal writes them."""
    uptime = card.one(testid="card-uptime")
    assert _value(uptime) == live["avg_uptime_ratio"]
    assert uptime.one("dd").text() == percent(live["avg_uptime_ratio"])
    ttft = card.one(testid="card-ttft")
    assert _value(ttft) == live["best_ttft_seconds"]
    assert ttft.one("dd").text() == millis(live["best_ttft_seconds"])
    speed = card.one(testid="card-throughput")
    assert _value(speed) == live["best_output_tokens_per_second"]
    assert speed.one("dd").text() == tokens_per_second(live["best_output_tokens_per_second"])
    active = card.one(testid="card-active")
    assert active.one("dd").text() == f"{live['active_endpoints']}/{live['total_endpoints']}"
    via = card.one(testid="card-via")
    assert via.get("data-value") == ",".join(live["available_via"])
    if live["available_via"]:
        assert via.text() == "Available via: " + ", ".join(live["available_via"])


async def test_each_models_card_shows_the_numbers_of_its_profile(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/")

    cards = {c.get("data-model"): c for c in root.find_all(testid="live-card")}
    assert set(cards) == {"gpt-4.1-nano", "gpt-4o-mini", "llama", "fresh-model"}
    for model, card in cards.items():
        live = (await client.get(f"/api/v1/models/{model}/profile")).json()["live"]
        card_matches_profile(card, live)
        assert "refreshed every 30 minutes" in card.text()
    nano = (await client.get("/api/v1/models/gpt-4.1-nano/profile")).json()["live"]
    assert nano["available_via"] == ["OpenAI", "Azure"]  # the seed's card, in this world


async def test_each_endpoint_shows_the_state_and_numbers_the_api_gives(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/")
    endpoints = (await client.get("/api/v1/endpoints")).json()["endpoints"]

    rows = {r.get("data-endpoint"): r for r in root.find_all(testid="endpoint-row")}
    assert set(rows) == {e["id"] for e in endpoints}
    for e in endpoints:
        row = rows[e["id"]]
        assert row.get("data-state") == e["state"]
        assert row.one(testid="endpoint-state").text() == e["state"]
        window = e["last_window"]
        ttft = window["ttft_p50_seconds"] if window else None
        assert _value(row.one(testid="endpoint-ttft")) == ttft
        assert row.one(testid="endpoint-ttft").text() == millis(ttft)
        profile = (await client.get(f"/api/v1/models/{e['model']}/profile")).json()["live"]
        (line,) = [x for x in profile["endpoints"] if x["endpoint"] == e["id"]]
        assert _value(row.one(testid="endpoint-uptime")) == line["uptime_ratio"]
        assert row.one("a").get("href") == f"/endpoints/{e['id']}"
    summary = root.one(testid="status-summary")
    for state in ("up", "degraded", "down", "unknown"):
        expected = sum(1 for e in endpoints if e["state"] == state)
        assert summary.get(f"data-{state}") == str(expected)


async def test_the_uptime_bar_has_a_cell_per_window_of_the_last_day_with_its_uptime(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/")
    rollups = (
        await client.get(
            "/api/v1/rollups",
            params={
                "endpoint": "mini-azure",
                "since": "2025-05-31T12:30:00Z",
                "until": "2025-06-01T12:30:00Z",
            },
        )
    ).json()["rollups"]

    bar = root.one(testid="uptime-bar", data_endpoint="mini-azure")
    cells = bar.find_all("rect")
    assert len(cells) == 48
    assert bar.get("data-since") == "2025-05-31T12:30:00Z"
    assert bar.get("data-cell-seconds") == "1800"
    by_start = {r["window_start"]: r for r in rollups}
    for i, cell in enumerate(cells):
        start = datetime(2025, 5, 31, 12, 30) + i * WINDOW
        r = by_start[start.strftime("%Y-%m-%dT%H:%M:%S.000000Z")]
        assert float(cell.get("data-uptime")) == r["uptime_ratio"]
        assert percent(r["uptime_ratio"]) in cell.one("title").text()
    assert cells[-1].get("class") == "u0"  # the last window failed whole
    assert cells[-1].one("title").text() == (
        "2025-06-01 12:00 – 12:30 UTC · 0.0% uptime (0 of 30 up)"
    )
    assert "lowest 0.0%, 2025-06-01 12:00 – 12:30 UTC" in bar.get("aria-label")


async def test_a_window_without_data_is_drawn_apart_from_a_window_of_no_uptime(
    tmp_path: Path,
) -> None:
    # One endpoint: a window of 0 % (every probe failed), then a window with no probe at all.
    config = world_config(f"sqlite:///{tmp_path / 'w.db'}", [endpoint_spec(0, "m")], [{"id": "m"}])
    zero = rollup(
        "ep-0000", "m", "openai", None, LAST_WINDOW - WINDOW, successes=0, failures={"timeout": 3}
    )
    view = build(config, [zero])
    async with await client_of(view) as client:
        root = await page(client, "/")
    view.store.close()

    cells = root.one(testid="uptime-bar").find_all("rect")
    before_last, last = cells[-2], cells[-1]
    assert before_last.get("class") == "u0" and before_last.get("data-uptime") == "0.0"
    assert last.get("class") == "nd" and "data-uptime" not in last.attrs
    assert last.one("title").text() == "2025-06-01 12:00 – 12:30 UTC · no data"
    # Drawn as a low stub, never as a full cell of any colour.
    assert float(last.get("height")) < float(before_last.get("height"))


async def test_a_failing_endpoint_shows_down_with_its_last_error(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/")

    row = root.one(testid="endpoint-row", data_endpoint="mini-azure")
    assert row.get("data-state") == "down"
    assert row.one(testid="last-error").text() == (
        "server_error: HTTP 503: the deployment is overloaded"
    )
    assert (
        root.one(testid="endpoint-row", data_endpoint="mini-openai").find_all(testid="last-error")
        == []
    )


async def test_failing_endpoints_and_their_models_come_first(client: httpx.AsyncClient) -> None:
    root = await page(client, "/")

    models = [g.get("data-model") for g in root.find_all(testid="model-group")]
    rows = [r.get("data-endpoint") for r in root.find_all(testid="endpoint-row")]
    # gpt-4o-mini and llama have a down endpoint; fresh-model's is unknown; nano's are up.
    assert models == ["gpt-4o-mini", "llama", "fresh-model", "gpt-4.1-nano"]
    assert rows == ["mini-azure", "mini-openai", "gateway", "fresh", "openai", "azure-eastus"]


async def test_an_endpoint_never_probed_and_its_model_show_placeholders(
    client: httpx.AsyncClient,
) -> None:
    root = await page(client, "/")

    row = root.one(testid="endpoint-row", data_endpoint="fresh")
    assert row.get("data-state") == "unknown"
    assert row.one(testid="endpoint-ttft").text() == "—"
    assert row.one(testid="endpoint-uptime").text() == "—"
    assert row.one(testid="endpoint-last-probe").text() == "—"
    assert {c.get("class") for c in row.one(testid="uptime-bar").find_all("rect")} == {"nd"}
    assert "no data" in row.one(testid="ttft-spark").get("aria-label")
    card = root.one(testid="live-card", data_model="fresh-model")
    assert card.one(testid="card-uptime").one("dd").text() == "—"
    assert card.one(testid="card-active").one("dd").text() == "0/1"
    assert "no active endpoint" in card.one(testid="card-via").text()


async def test_an_empty_store_before_the_first_window_shows_placeholders(
    tmp_path: Path,
) -> None:
    config = world_config(
        f"sqlite:///{tmp_path / 'empty.db'}",
        [endpoint_spec(0, "m"), endpoint_spec(1, "m")],
        [{"id": "m"}, {"id": "lonely"}],
    )
    view = build(config, [], probes=False, published=False)
    async with await client_of(view) as client:
        root = await page(client, "/")
        profile = (await client.get("/api/v1/models/m/profile")).json()["live"]
    view.store.close()

    card_matches_profile(root.one(testid="live-card", data_model="m"), profile)
    assert (
        "No complete window with probes yet" in root.one(testid="live-card", data_model="m").text()
    )
    assert {r.get("data-state") for r in root.find_all(testid="endpoint-row")} == {"unknown"}
    lonely = root.one(testid="model-group", data_model="lonely")
    assert "No endpoint serves this model." in lonely.text()


async def test_no_endpoint_configured_is_said_plainly(tmp_path: Path) -> None:
    config = world_config(f"sqlite:///{tmp_path / 'none.db'}", [], [{"id": "m"}])
    view = build(config, [], probes=False, published=False)
    async with await client_of(view) as client:
        root = await page(client, "/")
    view.store.close()

    assert "No endpoint is configured" in root.one(testid="no-endpoints").text()


async def test_a_thousand_endpoints_are_paged_a_hundred_at_a_time_failing_first(
    tmp_path: Path,
) -> None:
    models = [{"id": f"model-{m:02d}"} for m in range(40)]
    endpoints = [endpoint_spec(i, f"model-{i % 40:02d}") for i in range(1000)]
    config = world_config(f"sqlite:///{tmp_path / 'big.db'}", endpoints, models)
    failing = ["ep-0500", "ep-0999"]
    view = build(config, history(config, 2, failing=failing), failing=failing)
    seen: list[str] = []
    async with await client_of(view) as client:
        first = await page(client, "/")
        for n in range(1, 11):
            root = first if n == 1 else await page(client, f"/?page={n}")
            rows = root.find_all(testid="endpoint-row")
            assert len(rows) == 100
            assert len(root.find_all(testid="uptime-bar")) == 100
            seen += [r.get("data-endpoint") for r in rows]
        missing = await page(client, "/?page=11", status=404)
        bad = await page(client, "/?page=zero", status=400)
    view.store.close()

    assert sorted(seen) == sorted(e.id for e in config.endpoints)  # each once
    # Grouped by model, failing first: the two models with a failing endpoint lead, each
    # with its failing endpoint at the top of its 25.
    assert seen[0] == "ep-0500" and seen[25] == "ep-0999"
    assert [g.get("data-model") for g in first.find_all(testid="model-group")][:2] == [
        "model-20",
        "model-39",
    ]
    pagers = first.find_all(testid="pagination")
    assert len(pagers) == 2
    links = [a.get("href") for a in pagers[0].find_all("a")]
    assert "/?page=2" in links and "/?page=10" in links
    assert pagers[0].one("a", aria_current="page").text() == "1"
    assert "There is no page 11" in missing.one(testid="error-message").text()
    assert "page must be a whole number" in bad.one(testid="error-message").text()


async def test_the_same_app_draws_the_new_window_once_it_is_published(world: View) -> None:
    from monitor.api.app import create_app
    from monitor.service.aggregator import snapshot

    moment = [NOW]
    app = create_app(world, clock=lambda: moment[0])
    transport = httpx.ASGITransport(app=app)
    e = world.config.endpoints[0]
    async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as client:
        before = await page(client, "/")
        # The next window is rolled up and published: every bar moves on by one cell.
        following = LAST_WINDOW + WINDOW
        world.store.upsert_rollups(
            [
                rollup(
                    e.id,
                    e.model.id,
                    e.provider,
                    e.region,
                    following,
                    successes=0,
                    failures={"timeout": 30},
                )
            ]
        )
        moment[0] = NOW + WINDOW
        world.current = snapshot(world.config, world.store, moment[0])
        after = await page(client, "/")

    old = before.one(testid="uptime-bar", data_endpoint=e.id).find_all("rect")
    new = after.one(testid="uptime-bar", data_endpoint=e.id).find_all("rect")
    assert [c.get("data-uptime") for c in new[:-1]] == [c.get("data-uptime") for c in old[1:]]
    assert new[-1].get("data-uptime") == "0.0"
