"""Golden outputs: every JSON route of the API and every report format, for one fixed store.

The store holds three hours of probes of two models' endpoints (successes, failures of several
kinds, a window in which one endpoint was not probed, an endpoint never probed), rolled up and
read at a fixed moment. What the API answers and what the report renderers write is compared
with the files in ``tests/golden/``, which were written before the outward shapes got a single
definition each: a change of any field, value or text there fails this test. JSON is compared
as data (key order aside); Markdown, CSV and the terminal table byte for byte.

``LLM_MONITOR_UPDATE_GOLDEN=1 pytest tests/test_golden.py`` rewrites the files, for a change
that is meant: review their diff.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from rich.console import Console

from monitor.api.app import create_app
from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.reports.build import build_report
from monitor.reports.formats import render_csv, render_json, render_markdown
from monitor.reports.terminal import render_table
from monitor.service.aggregator import Aggregator, Snapshot, snapshot
from monitor.store import Store, open_store
from tests.store.factories import bare_probe, make_probe

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("LLM_MONITOR_UPDATE_GOLDEN") == "1"
#: The moment everything is read at: 12:41:07 UTC, so 12:00–12:30 is the last complete window.
NOW = datetime(2025, 6, 1, 12, 41, 7, 250_000, tzinfo=UTC)
START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def _config(tmp_path: Path) -> Config:
    text = yaml.safe_dump(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'golden.db'}"},
            "probe": {"interval": "10m", "timeout": "20s"},
            "rollup": {"window": "30m"},
            "profile": {"uptime_window": "2h"},
            "models": [
                {
                    "id": "gpt-4.1-nano",
                    "name": "OpenAI: GPT-4.1 Nano",
                    "creator": "openai",
                    "release_date": "2025-04-14",
                    "pricing": {"input_per_million": 0.1, "output_per_million": 0.4},
                    "context_window": 1047576,
                    "max_output_tokens": 32768,
                    "modality": "text+image->text",
                    "capabilities": ["tools", "vision"],
                    "metadata": {"mmlu": 0.801, "family": "GPT-4.1"},
                },
                {"id": "other-model", "name": "Another model"},
            ],
            "endpoints": [
                {"id": "openai", "model": "gpt-4.1-nano", "provider": "openai",
                 "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"},
                {"id": "azure-eastus", "model": "gpt-4.1-nano", "provider": "azure",
                 "base_url": "http://127.0.0.1:9", "deployment": "gpt-41-nano",
                 "region": "eastus", "api_key_env": "K"},
                {"id": "gateway", "model": "other-model", "provider": "openai_compatible",
                 "base_url": "http://127.0.0.1:9/v1", "api": "responses", "auth": "none"},
            ],
        }
    )  # fmt: skip
    return parse_config(text, environ={"K": "golden-key"})


def _probes() -> list[ProbeResult]:
    """Every 10 minutes from 09:00 to 12:40: openai mostly up, azure with failures of several
    kinds and no probe at all between 10:30 and 11:00; the gateway never probed."""
    probes: list[ProbeResult] = []
    failures = [
        (Outcome.SERVER_ERROR, 500, "HTTP 500: internal error"),
        (Outcome.RATE_LIMITED, 429, "HTTP 429 rate_limit_exceeded: slow down"),
        (Outcome.TIMEOUT, None, "no complete answer within the probe timeout of 20s"),
    ]
    for step in range(23):
        at = START + timedelta(minutes=10 * step, seconds=3, microseconds=1000 * step)
        probes.append(
            make_probe(
                probe_id=f"golden-openai-{step:02d}",
                endpoint="openai",
                provider="openai",
                region=None,
                started_at=at,
                ttft_seconds=0.4 + 0.01 * step,
                output_tokens_per_second=100.0 + step,
                total_seconds=1.0 + 0.02 * step,
                error=None,
                retry_after_seconds=None,
            )
        )
        if 9 <= step <= 11:
            continue  # 10:30 to 11:00: azure not probed at all
        at_azure = at + timedelta(minutes=2)
        if step % 4 == 3:
            outcome, status, error = failures[(step // 4) % len(failures)]
            probes.append(
                bare_probe(
                    probe_id=f"golden-azure-{step:02d}",
                    endpoint="azure-eastus",
                    provider="azure",
                    api="chat_completions",
                    region="eastus",
                    outcome=outcome,
                    http_status=status,
                    started_at=at_azure,
                    error=error,
                    duration_seconds=0.25 + step,
                    retry_after_seconds=7.0 if status == 429 else None,
                )
            )
        else:
            probes.append(
                make_probe(
                    probe_id=f"golden-azure-{step:02d}",
                    started_at=at_azure,
                    ttft_seconds=0.7 + 0.02 * step,
                    output_tokens_per_second=80.0 - step,
                    error=None,
                    retry_after_seconds=None,
                )
            )
    return probes


@dataclass
class _View:
    """The daemon's read-only view (what the HTTP app reads), over the fixed store."""

    config: Config
    store: Store
    latest: Snapshot | None
    last: Mapping[str, ProbeResult]
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def snapshot(self) -> Snapshot | None:
        return self.latest

    def last_probes(self) -> Mapping[str, ProbeResult]:
        return self.last

    def budget(self) -> None:
        return None

    def problems(self) -> list[str]:
        return []


@pytest.fixture(scope="module")
def golden_view(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("golden")
    config = _config(tmp)
    store = open_store(config.schema.storage.url)
    store.upgrade()
    probes = _probes()
    store.add_probes(probes)
    Aggregator(config, store, publish=lambda s: None, clock=lambda: NOW).backfill()
    last: dict[str, ProbeResult] = {}
    for probe in probes:
        last[probe.endpoint] = probe
    view = _View(config, store, snapshot(config, store, NOW), last)
    try:
        yield view
    finally:
        store.close()


ROUTES = {
    "api-endpoints": "/api/v1/endpoints",
    "api-models": "/api/v1/models",
    "api-profile": "/api/v1/models/gpt-4.1-nano/profile",
    "api-profile-unprobed": "/api/v1/models/other-model/profile",
    "api-profile-unknown": "/api/v1/models/no-such-model/profile",
    "api-rollups": "/api/v1/rollups?since=2025-06-01T09:00:00Z&until=2025-06-01T12:30:00Z",
    "api-rollups-endpoint": "/api/v1/rollups?endpoint=azure-eastus&since=4h",
    "api-rollups-inverted": "/api/v1/rollups?since=1h&until=2h",
    "api-rollups-bad-window": "/api/v1/rollups?window=7m",
    "api-report-latest": "/api/v1/reports/latest",
    "api-healthz": "/healthz",
    "api-readyz": "/readyz",
    "api-no-route": "/api/v1/nothing",
}


def _compare(name: str, text: str, *, as_json: bool) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    if as_json:
        assert json.loads(text) == json.loads(expected), name
    else:
        assert text == expected, name


@pytest.mark.parametrize("name", sorted(ROUTES))
async def test_api_answers_as_before(golden_view: Any, name: str) -> None:
    app = create_app(golden_view, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://golden") as client:
        response = await client.get(ROUTES[name])
    document = {"status": response.status_code, "body": response.json()}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    _compare(f"{name}.json", text, as_json=True)


@pytest.mark.parametrize(
    ("name", "since", "until"),
    [
        ("report-last-window", None, None),
        ("report-three-hours", datetime(2025, 6, 1, 9, 30, tzinfo=UTC), None),
    ],
)
def test_reports_render_as_before(
    golden_view: Any, name: str, since: datetime | None, until: datetime | None
) -> None:
    report = build_report(golden_view.config, golden_view.store, now=NOW, since=since, until=until)
    _compare(f"{name}.json", render_json(report), as_json=True)
    _compare(f"{name}.md", render_markdown(report), as_json=False)
    _compare(f"{name}.csv", render_csv(report), as_json=False)
    console = Console(file=io.StringIO(), width=120, color_system=None, force_terminal=False)
    render_table(report, console)
    _compare(f"{name}.txt", console.file.getvalue(), as_json=False)  # type: ignore[attr-defined]
