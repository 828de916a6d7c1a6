"""Incidents on the pages (docs/design.md#incidents): the status page lists the open ones,
a model's page and an endpoint's page their recent ones, each with its start, end, length,
failures and first error; and ``/api/v1/incidents`` answers the same incidents as JSON."""

from __future__ import annotations

from datetime import timedelta

import httpx

from monitor.core.incidents import Incident
from tests.web.pages import page
from tests.web.world import NOW, View


def _incident(endpoint: str, model: str, start_min: int, end_min: int | None) -> Incident:
    return Incident(
        endpoint=endpoint, model=model, provider="azure",
        started_at=NOW - timedelta(minutes=start_min),
        ended_at=None if end_min is None else NOW - timedelta(minutes=end_min),
        checked_at=NOW - timedelta(minutes=end_min or 0), last_down_at=NOW,
        down_slots=7, outcomes={"server_error": 7},
        first_error="HTTP 503: the deployment is overloaded", last_error=None,
    )  # fmt: skip


def _fill(world: View) -> None:
    world.store.upsert_incidents(
        [
            _incident("mini-azure", "gpt-4o-mini", 12, None),  # open, 12 minutes so far
            _incident("mini-azure", "gpt-4o-mini", 300, 290),  # 10 minutes, closed
            _incident("azure-eastus", "gpt-4.1-nano", 60 * 24 * 40, 60 * 24 * 40 - 5),  # old
        ]
    )


async def test_the_status_page_lists_the_open_incidents(
    world: View, client: httpx.AsyncClient
) -> None:
    root = await page(client, "/")
    assert not root.find_all(testid="open-incidents")  # none yet: no section
    _fill(world)
    root = await page(client, "/")
    section = root.one(testid="open-incidents")
    assert section.one("h2").text() == "Open incidents (1)"
    (row,) = section.find_all(testid="incident-row")
    assert row.get("data-endpoint") == "mini-azure" and row.get("data-open") == "true"
    cells = [c.text() for c in row.find_all("td")]
    assert cells[1:] == ["open", "12m 0s so far", "7", "server_error 7",
                         "HTTP 503: the deployment is overloaded"]  # fmt: skip
    assert row.one("a").get("href") == "/endpoints/mini-azure"


async def test_model_and_endpoint_pages_list_their_recent_incidents(
    world: View, client: httpx.AsyncClient
) -> None:
    _fill(world)
    model = (await page(client, "/models/gpt-4o-mini")).one(testid="model-incidents")
    rows = model.find_all(testid="incident-row")
    assert [(r.get("data-open"), r.get("data-duration")) for r in rows] == [
        ("true", "720.0"), ("false", "600.0"),
    ]  # fmt: skip
    endpoint = (await page(client, "/endpoints/mini-azure")).one(testid="endpoint-incidents")
    assert len(endpoint.find_all(testid="incident-row")) == 2
    assert "opens after 3 probe intervals in a row are down" in endpoint.text()
    # The incident of 40 days ago is older than the pages' 30 days.
    nano = (await page(client, "/endpoints/azure-eastus")).one(testid="endpoint-incidents")
    assert nano.one(testid="no-incidents").text() == "No incident in the last 30 days."


async def test_the_api_lists_incidents_with_filters_and_a_summary(
    world: View, client: httpx.AsyncClient
) -> None:
    _fill(world)
    everything = (await client.get("/api/v1/incidents", params={"since": "60d"})).json()
    assert [i["endpoint"] for i in everything["incidents"]] == [
        "mini-azure", "mini-azure", "azure-eastus",
    ]  # fmt: skip
    assert everything["summary"]["count"] == 3 and everything["summary"]["open"] == 1
    opened = (await client.get("/api/v1/incidents", params={"open": "true"})).json()
    (only,) = opened["incidents"]
    assert only["id"] == f"mini-azure@{only['started_at']}" and only["ended_at"] is None
    assert only["duration_seconds"] == 720.0
    # The default range is the last 7 days; limit cuts the list, not the summary.
    week = (await client.get("/api/v1/incidents", params={"limit": "1"})).json()
    assert week["count"] == 1 and week["truncated"] and week["summary"]["count"] == 2
    nano = (await client.get("/api/v1/incidents", params={"model": "gpt-4.1-nano"})).json()
    assert nano["incidents"] == []
    for params, parameter in (({"open": "maybe"}, "open"), ({"limit": "0"}, "limit"),
                              ({"endpoint": "nope"}, "endpoint")):  # fmt: skip
        refused = await client.get("/api/v1/incidents", params=params)
        assert refused.status_code in (404, 422)
        assert refused.json()["error"]["parameter"] == parameter
