"""``GET /reports``, ``/reports/{window}`` and its downloads: the finished windows' reports,
readable as pages and downloadable as the texts ``llm-monitor report`` writes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.config import parse_config
from monitor.core.incidents import Incident
from monitor.core.outcomes import Outcome
from monitor.reports.build import build_report
from monitor.reports.formats import render_csv, render_json, render_markdown
from monitor.service.aggregator import roll_window, snapshot
from monitor.store import open_store
from tests.store.factories import bare_probe, make_probe
from tests.web.pages import client_of, page
from tests.web.world import LAST_WINDOW, NOW, WINDOW, View, build, endpoint_spec, history
from tests.web.world import world_config as make_config

ROOT = Path(__file__).resolve().parents[2]
EARLIER = LAST_WINDOW - WINDOW


def _raw_config(url: str) -> dict[str, Any]:
    return {
        "storage": {"url": url},
        "probe": {"interval": "60s", "timeout": "10s"},
        "models": [
            {
                "id": "gpt-4.1-nano",
                "name": "OpenAI: GPT-4.1 Nano",
                "pricing": {"input_per_million": 0.1, "output_per_million": 0.4},
            }
        ],
        "endpoints": [
            {
                "id": "openai",
                "model": "gpt-4.1-nano",
                "provider": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "K",
            },
            {
                "id": "azure-eastus",
                "model": "gpt-4.1-nano",
                "provider": "azure",
                "base_url": "http://127.0.0.1:9",
                "deployment": "nano",
                "region": "eastus",
                "api_key_env": "K",
            },
        ],
    }


@pytest.fixture
def probed(tmp_path: Path) -> Iterator[tuple[View, Path]]:
    """Two windows of real probes, rolled up as the daemon does, and the config file."""
    raw = _raw_config(f"sqlite:///{tmp_path / 'reports.db'}")
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = parse_config(path.read_text(), resolve_secrets=False)
    store = open_store(config.schema.storage.url)
    store.upgrade()
    minute = timedelta(minutes=1)
    probes = [
        *(
            make_probe(
                endpoint="openai",
                provider="openai",
                region=None,
                error=None,
                started_at=start + (i + 1) * minute,
                ttft_seconds=0.4 + i / 50,
            )
            for start in (EARLIER, LAST_WINDOW)
            for i in range(5)
        ),
        *(
            make_probe(
                started_at=LAST_WINDOW + (i + 2) * minute, error=None, ttft_seconds=0.7 + i / 50
            )
            for i in range(3)
        ),
        bare_probe(
            endpoint="azure-eastus",
            provider="azure",
            region="eastus",
            started_at=LAST_WINDOW + 9 * minute,
            outcome=Outcome.SERVER_ERROR,
            http_status=500,
            error="HTTP 500: boom",
        ),
    ]
    store.add_probes(probes)
    for start in (EARLIER, LAST_WINDOW):
        roll_window(config, store, start, NOW)
    view = View(config, store, snapshot(config, store, NOW), store.last_probes())
    try:
        yield view, path
    finally:
        store.close()


@pytest.fixture
async def reports_client(probed: tuple[View, Path]) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_of(probed[0]) as c:
        yield c


async def test_reports_list_the_finished_windows_newest_first_with_their_downloads(
    reports_client: httpx.AsyncClient,
) -> None:
    root = await page(reports_client, "/reports")

    rows = root.one(testid="reports-table").find_all(testid="report-row")
    assert [r.get("data-window") for r in rows] == ["20250601T1200Z", "20250601T1130Z"]
    first = rows[0]
    assert [a.get("href") for a in first.find_all("a")] == [
        "/reports/20250601T1200Z",
        "/reports/20250601T1200Z.md",
        "/reports/20250601T1200Z.csv",
        "/reports/20250601T1200Z.json",
    ]
    assert first.one("th").text() == "2025-06-01 12:00 – 12:30 UTC"
    assert root.find_all(testid="pagination") == []


async def test_a_windows_report_page_shows_the_report(
    reports_client: httpx.AsyncClient, probed: tuple[View, Path]
) -> None:
    root = await page(reports_client, "/reports/20250601T1200Z")
    view = probed[0]
    report = build_report(
        view.config, view.store, now=NOW, since=LAST_WINDOW, until=LAST_WINDOW + WINDOW
    )

    assert root.one("h1").text() == "Rollup report · 2025-06-01 12:00 – 12:30 UTC"
    (model,) = root.find_all(testid="report-model")
    assert model.one(testid="card-line").text() == report.models[0].card
    rows = {
        r.get("data-endpoint"): [c.text() for c in r.find_all("td")]
        for r in model.find_all(testid="summary-row")
    }
    assert rows["openai"][:4] == ["openai", "OpenAI", "100.0%", "5"]
    assert rows["azure-eastus"][:4] == ["azure-eastus", "Azure eastus", "75.0%", "4"]
    assert "server_error 1" in rows["azure-eastus"]
    links = {
        a.get("data-testid"): a.get("href") for a in root.one(testid="downloads").find_all("a")
    }
    assert links == {
        "download-md": "/reports/20250601T1200Z.md",
        "download-csv": "/reports/20250601T1200Z.csv",
        "download-json": "/reports/20250601T1200Z.json",
    }
    earlier = root.one("a", rel="prev")
    assert earlier.get("href") == "/reports/20250601T1130Z"
    assert root.find_all("a", rel="next") == []  # 12:30 is not finished


async def test_the_downloads_are_the_report_commands_texts_for_that_window(
    reports_client: httpx.AsyncClient, probed: tuple[View, Path]
) -> None:
    view, config_file = probed
    report = build_report(
        view.config, view.store, now=NOW, since=LAST_WINDOW, until=LAST_WINDOW + WINDOW
    )
    expected = {
        "md": render_markdown(report),
        "csv": render_csv(report),
        "json": render_json(report),
    }
    types = {
        "md": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8",
        "json": "application/json",
    }

    for suffix, text in expected.items():
        response = await reports_client.get(f"/reports/20250601T1200Z.{suffix}")
        assert response.status_code == 200
        assert response.text == text
        assert response.headers["content-type"] == types[suffix]
        assert response.headers["content-disposition"] == (
            f'attachment; filename="report-20250601T1200Z.{suffix}"'
        )

    # The command itself, run later (its "now" is another moment, so its generated_at too).
    for suffix, fmt in (("md", "markdown"), ("csv", "csv"), ("json", "json")):
        code, out, err = await _report_command(config_file, fmt)
        assert code == 0, err
        served = (await reports_client.get(f"/reports/20250601T1200Z.{suffix}")).text
        assert _without_moments(out, suffix) == _without_moments(served, suffix)


async def _report_command(config: Path, fmt: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LLM_MONITOR_CONFIG"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "report",
        "--config",
        str(config),
        "--since",
        "2025-06-01T12:00:00Z",
        "--until",
        "2025-06-01T12:30:00Z",
        "--format",
        fmt,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _without_moments(text: str, suffix: str) -> Any:
    """The report without the moment it was made at (``generated_at``, ``refreshed_at``)."""
    if suffix == "json":
        data = json.loads(text)
        del data["generated_at"]
        for model in data["models"]:
            del model["live"]["refreshed_at"]
        return data
    return re.sub(r"generated \S+", "generated …", text)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/reports/20250601T1230Z", "is not finished yet: the last finished one is 20250601T1200Z"),
        ("/reports/20250601T1215Z", "does not start a window"),
        ("/reports/20250601T1000Z", "No probe is stored in the window 20250601T1000Z"),
        ("/reports/yesterday", "does not name a window: names look like 20250601T1200Z"),
        ("/reports/20250601T1000Z.md", "No probe is stored in the window"),
        ("/reports/20250601T1200Z.pdf", "There is no 'pdf' download"),
    ],
)
async def test_a_window_without_a_report_is_a_404_page_saying_why(
    reports_client: httpx.AsyncClient, url: str, says: str
) -> None:
    root = await page(reports_client, url, status=404)

    assert says in root.one(testid="error-message").text()


async def test_an_empty_store_has_no_reports_yet(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'e.db'}", [endpoint_spec(0, "m")], [{"id": "m"}])
    view = build(config, [], probes=False, published=False)
    async with await client_of(view) as client:
        root = await page(client, "/reports")
    view.store.close()

    assert "No window has finished with probes yet" in root.one(testid="no-reports").text()


async def test_many_windows_are_listed_fifty_at_a_time(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'm.db'}", [endpoint_spec(0, "m")], [{"id": "m"}])
    view = build(config, history(config, 120))
    async with await client_of(view) as client:
        first = await page(client, "/reports")
        older = first.one(testid="pagination").one("a", rel="next").get("href")
        second = await page(client, older)
        third_link = second.one(testid="pagination").one("a", rel="next").get("href")
        third = await page(client, third_link)
        bad = await page(client, "/reports?before=soon", status=400)
    view.store.close()

    names = [
        r.get("data-window")
        for root in (first, second, third)
        for r in root.find_all(testid="report-row")
    ]
    assert len(names) == 120 and len(set(names)) == 120
    assert names == sorted(names, reverse=True)
    assert older == "/reports?before=" + names[49]
    assert third.one(testid="pagination").find_all("a", rel="next") == []
    assert third.one(testid="pagination").one("a").get("href") == "/reports"
    assert "before must name a window" in bad.one(testid="error-message").text()


async def test_a_windows_report_page_lists_its_incidents(
    reports_client: httpx.AsyncClient, probed: tuple[View, Path]
) -> None:
    # (Report pages are cached until the next window is published: the incident is stored
    # before the first request.)
    probed[0].store.upsert_incidents(
        [
            Incident(
                endpoint="azure-eastus", model="gpt-4.1-nano", provider="azure",
                started_at=LAST_WINDOW + timedelta(minutes=8),
                ended_at=LAST_WINDOW + timedelta(minutes=11, seconds=30),
                checked_at=LAST_WINDOW + timedelta(minutes=12),
                last_down_at=LAST_WINDOW + timedelta(minutes=10), down_slots=3,
                outcomes={"server_error": 3}, first_error="HTTP 500: boom", last_error=None,
            )
        ]
    )  # fmt: skip
    root = await page(reports_client, "/reports/20250601T1200Z")
    section = root.one(testid="report-incidents")
    assert section.one("p").text() == "1 incident: 3m 30s down in the range"
    (row,) = section.find_all(testid="report-incident-row")
    assert [c.text() for c in row.find_all("td")] == [
        "azure-eastus", "2025-06-01T12:08:00Z", "2025-06-01T12:11:30Z", "3m 30s", "3",
        "server_error 3", "HTTP 500: boom",
    ]  # fmt: skip
    # The earlier window's report has none.
    earlier = await page(reports_client, "/reports/20250601T1130Z")
    assert earlier.find_all(testid="report-incidents") == []
