"""A model page with probe kinds (docs/design.md#probe-kinds): a "TTFT by prompt size" table
with each kind's best endpoint p50 TTFT, the plain prompt (``short``) first; none without
kinds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.service.aggregator import roll_window, snapshot
from monitor.store import open_store
from tests.store.factories import make_probe
from tests.web.pages import ENDPOINTS, MODELS, client_of, page
from tests.web.world import LAST_WINDOW, NOW, View, world_config


async def test_the_model_page_shows_ttft_by_prompt_size(tmp_path: Path) -> None:
    config = world_config(
        f"sqlite:///{tmp_path / 'kinds.db'}", ENDPOINTS, MODELS,
        probe={"interval": "60s", "timeout": "10s",
               "kinds": [{"name": "long", "input_tokens": 10_000, "interval": "10m"}]},
    )  # fmt: skip
    minute = timedelta(minutes=1)
    probes = [
        *(make_probe(endpoint=e, provider=p, started_at=LAST_WINDOW + i * minute,
                     ttft_seconds=t) for i in range(3)
          for e, p, t in (("openai", "openai", 0.5), ("azure-eastus", "azure", 0.4))),
        *(make_probe(endpoint=e, provider=p, kind="long", input_tokens=10_020,
                     started_at=LAST_WINDOW + i * minute, ttft_seconds=t) for i in range(3)
          for e, p, t in (("openai", "openai", 1.25), ("azure-eastus", "azure", 2.5))),
    ]  # fmt: skip
    store = open_store(config.schema.storage.url)
    try:
        store.upgrade()
        store.add_probes(probes)
        roll_window(config, store, LAST_WINDOW, NOW)
        view = View(config, store, snapshot(config, store, NOW), store.last_probes())
        async with await client_of(view) as client:
            root = await page(client, "/models/gpt-4.1-nano")
            other = await page(client, "/models/gpt-4o-mini")
    finally:
        store.close()
    rows = root.one(testid="kinds-table").find_all(testid="kind-row")
    cells = [[c.text() for c in (r.one("th"), *r.find_all("td"))] for r in rows]
    assert cells == [
        ["short", "plain prompt", "400 ms", "azure-eastus"],
        ["long", "10,000", "1,250 ms", "openai"],
    ]
    # A model whose endpoints have no probe in the window has kinds without numbers.
    long = other.find_all(testid="kind-row")[1]
    assert [c.text() for c in long.find_all("td")] == ["10,000", "—", "—"]


async def test_the_endpoint_page_says_each_recent_probes_kind(tmp_path: Path) -> None:
    config = world_config(
        f"sqlite:///{tmp_path / 'kinds.db'}", ENDPOINTS, MODELS,
        probe={"interval": "60s", "timeout": "10s",
               "kinds": [{"name": "long", "input_tokens": 10_000, "interval": "10m"}]},
    )  # fmt: skip
    store = open_store(config.schema.storage.url)
    try:
        store.upgrade()
        store.add_probes(
            [
                make_probe(endpoint="openai", provider="openai", started_at=LAST_WINDOW),
                make_probe(endpoint="openai", provider="openai", kind="long",
                           started_at=LAST_WINDOW + timedelta(seconds=5)),
            ]
        )  # fmt: skip
        view = View(config, store, snapshot(config, store, NOW), store.last_probes())
        async with await client_of(view) as client:
            root = await page(client, "/endpoints/openai")
            plain = await page(client, "/endpoints/azure-eastus")
    finally:
        store.close()
    kinds = [c.text() for c in root.find_all(testid="probe-kind")]
    assert kinds == ["long", "short"]  # newest first
    assert plain.find_all(testid="probe-kind") == []  # no column without kinds
