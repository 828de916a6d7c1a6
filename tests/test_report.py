"""Rollup reports from a real SQLite store: the numbers, the four renderers, the per-window files
the daemon writes, and the ``report`` and ``profile`` commands run as real processes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from monitor.config import Config, ModelSpec, parse_config
from monitor.core.errors import UnknownModelError
from monitor.core.incidents import Incident
from monitor.core.outcomes import Outcome
from monitor.core.profile import ModelLive, model_live
from monitor.core.providers import ProviderId
from monitor.core.result import ProbeResult
from monitor.core.rollup import window_start
from monitor.core.shape import dump
from monitor.reports.build import build_report, model_profile
from monitor.reports.files import report_basename, write_window_report
from monitor.reports.formats import CSV_COLUMNS, render_csv, render_json, render_markdown
from monitor.reports.model import EndpointSummary, Report, ReportModel
from monitor.reports.terminal import render_profile, render_table
from monitor.reports.text import card_line, percent
from monitor.service.aggregator import (
    Aggregator,
    last_complete_window,
    roll_window,
    settle_seconds,
    snapshot,
    window_seconds,
)
from monitor.service.queries import window_is_known
from monitor.store import Store, open_store
from tests.store.factories import bare_probe, make_probe

ROOT = Path(__file__).resolve().parent.parent
MODELS = [
    {
        "id": "gpt-4.1-nano",
        "name": "OpenAI: GPT-4.1 Nano",
        "pricing": {"input_per_million": 0.10, "output_per_million": 0.40},
        "context_window": 1047576,
    },
    {"id": "other-model"},
]
ENDPOINTS = [
    {"id": "openai", "model": "gpt-4.1-nano", "provider": "openai",
     "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_KEY"},
    {"id": "azure-eastus", "model": "gpt-4.1-nano", "provider": "azure",
     "base_url": "https://r.openai.azure.com", "deployment": "nano", "region": "eastus",
     "api_key_env": "AZURE_KEY"},
    {"id": "gateway", "model": "other-model", "provider": "openai_compatible",
     "base_url": "https://gateway.example/v1"},
]  # fmt: skip
W = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # the last complete window at NOW
PREVIOUS = W - timedelta(minutes=30)
NOW = W + timedelta(minutes=31)


def _config(storage_url: str = "sqlite:///unused.db", **sections: object) -> Config:
    raw = {
        "storage": {"url": storage_url},
        "probe": {"timeout": "5s"},
        "models": MODELS,
        "endpoints": ENDPOINTS,
        **sections,
    }
    return parse_config(yaml.safe_dump(raw), resolve_secrets=False)


def _ok(endpoint: str, at: datetime, ttft: float, speed: float) -> ProbeResult:
    provider = {"openai": "openai", "azure-eastus": "azure"}[endpoint]
    return make_probe(
        endpoint=endpoint,
        provider=provider,
        region="eastus" if provider == "azure" else None,
        started_at=at,
        ttft_seconds=ttft,
        output_tokens_per_second=speed,
        output_tokens=40,
        input_tokens=20,
        cost_usd=0.00002,
    )


def _failed(endpoint: str, at: datetime, outcome: Outcome) -> ProbeResult:
    return bare_probe(
        endpoint=endpoint, provider="azure", region="eastus", started_at=at, outcome=outcome
    )


def last_window_probes(last: datetime) -> list[ProbeResult]:
    """openai: TTFT 0.4/0.5/0.6/0.7 s at 100/110/120/130 tok/s; azure-eastus: TTFT
    0.30/0.35/0.40 s at 150/160/170 tok/s, one timeout and one auth_error (not counted for
    uptime); the gateway endpoint never answered."""
    minute = timedelta(minutes=1)
    return [
        *(_ok("openai", last + (i + 1) * minute, t, s)
          for i, (t, s) in enumerate([(0.4, 100), (0.5, 110), (0.6, 120), (0.7, 130)])),
        *(_ok("azure-eastus", last + (i + 1) * minute, t, s)
          for i, (t, s) in enumerate([(0.30, 150), (0.35, 160), (0.40, 170)])),
        _failed("azure-eastus", last + 10 * minute, Outcome.TIMEOUT),
        _failed("azure-eastus", last + 11 * minute, Outcome.AUTH_ERROR),
    ]  # fmt: skip


def fill(store: Store, config: Config, last: datetime, *, now: datetime) -> None:
    """``last_window_probes`` in the window ``last``, and openai TTFT 0.9 and 1.0 s in the
    window before it; both rolled up."""
    previous = last - timedelta(minutes=30)
    minute = timedelta(minutes=1)
    store.add_probes(
        [
            *last_window_probes(last),
            _ok("openai", previous + minute, 0.9, 90),
            _ok("openai", previous + 2 * minute, 1.0, 80),
        ]
    )
    for start in (previous, last):
        roll_window(config, store, start, now)


@pytest.fixture
def config() -> Config:
    return _config()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/m.db")
    opened.upgrade()
    yield opened
    opened.close()


@pytest.fixture
def filled(store: Store, config: Config) -> Store:
    fill(store, config, W, now=NOW)
    return store


def _summary(report: Report, endpoint: str) -> dict[str, object]:
    found = next(s for s in report.endpoints if s.endpoint == endpoint)
    data: dict[str, object] = dump(found)
    return data


# --- the numbers -------------------------------------------------------------------------------


def test_default_report_covers_the_last_complete_window(filled: Store, config: Config) -> None:
    report = build_report(config, filled, now=NOW)
    assert (report.since, report.until) == (W, W + timedelta(minutes=30))
    assert [w.window_start for w in report.windows] == [W]
    openai = _summary(report, "openai")
    assert openai["probes"] == 4
    assert openai["ttft_p50_seconds"] == pytest.approx(0.55)
    assert openai["ttft_p95_seconds"] == pytest.approx(0.685)
    assert openai["output_tokens_per_second_p50"] == pytest.approx(115.0)
    assert openai["cost_usd"] == pytest.approx(0.00008)
    assert openai["source"] == "probes"


def test_endpoint_summary_counts_uptime_without_configuration_errors(
    filled: Store, config: Config
) -> None:
    azure = _summary(build_report(config, filled, now=NOW), "azure-eastus")
    assert azure["probes"] == 5
    assert azure["successes"] == 3
    assert azure["uptime_ratio"] == pytest.approx(0.75)  # 3 of 4: auth_error does not count
    assert azure["failures_by_outcome"] == {"auth_error": 1, "timeout": 1}


def test_summary_percentiles_come_from_raw_probes_not_from_window_percentiles(
    filled: Store, config: Config
) -> None:
    report = build_report(config, filled, now=NOW, since=PREVIOUS)
    assert [w.window_start for w in report.windows] == [PREVIOUS, W]
    openai = _summary(report, "openai")
    assert openai["probes"] == 6
    # TTFT 0.4 … 1.0 s over both windows: p50 of six values, not a mean of window p50s.
    assert openai["ttft_p50_seconds"] == pytest.approx(0.65)


def test_summary_falls_back_to_rollup_counts_when_raw_probes_are_gone(
    filled: Store, config: Config
) -> None:
    filled.delete_probes_before(NOW)
    report = build_report(config, filled, now=NOW, since=PREVIOUS)
    openai = _summary(report, "openai")
    azure = _summary(report, "azure-eastus")
    assert (openai["source"], azure["source"]) == ("rollups", "rollups")
    assert openai["probes"] == 6
    assert openai["ttft_p50_seconds"] is None
    assert openai["output_tokens_per_second_p50"] is None
    assert azure["uptime_ratio"] == pytest.approx(0.75)
    assert azure["failures_by_outcome"] == {"auth_error": 1, "timeout": 1}
    assert openai["cost_usd"] == pytest.approx(0.00012)
    assert "percentiles over the range are unknown" in render_markdown(report)


def test_an_endpoint_without_probes_in_the_range_has_no_data_rather_than_0_probes(
    filled: Store, config: Config
) -> None:
    report = build_report(config, filled, now=NOW)
    data = json.loads(render_json(report))
    nano, other = data["models"]
    assert ([e["endpoint"] for e in nano["endpoints"]], nano["no_data"]) == (
        ["openai", "azure-eastus"],
        [],
    )
    assert (other["endpoints"], other["no_data"]) == ([], ["gateway"])
    (window,) = data["windows"]
    assert [r["endpoint"] for r in window["endpoints"]] == ["openai", "azure-eastus"]
    assert window["no_data"] == ["gateway"]
    table = _table_text(report)
    assert any("gateway" in line and "no data" in line for line in table.splitlines())


def test_live_card_holds_the_profile_numbers_at_the_end_of_the_range(
    filled: Store, config: Config
) -> None:
    report = build_report(config, filled, now=NOW)
    card = report.models[0].live
    assert card.best_ttft_seconds == pytest.approx(0.35)  # azure's p50
    assert card.best_output_tokens_per_second == pytest.approx(160.0)
    assert card.avg_uptime_ratio == pytest.approx((1.0 + 0.75) / 2)
    assert (card.active_endpoints, card.total_endpoints) == (2, 2)
    assert card_line(card, 1800) == (
        "87.5% avg uptime · 350 ms best TTFT · 160 tok/s best throughput · "
        "2/2 active endpoints · available via OpenAI, Azure · refreshed every 30 minutes"
    )


def _day_of_windows(store: Store, config: Config) -> None:
    """26 hours of windows before ``W`` with outcomes of every kind, rolled up; ``W`` itself
    as ``fill`` leaves it."""
    outcomes = [Outcome.TIMEOUT, Outcome.RATE_LIMITED, Outcome.AUTH_ERROR, Outcome.CANCELLED,
                Outcome.SERVER_ERROR]  # fmt: skip
    probes: list[ProbeResult] = []
    starts = [W - timedelta(minutes=30 * k) for k in range(1, 53)]
    for k, start in enumerate(starts):
        for i in range(k % 4 + 1):
            probes.append(_ok("openai", start + timedelta(minutes=i + 1), 0.5 + i / 10, 100))
        probes.append(_failed("azure-eastus", start + timedelta(minutes=7), outcomes[k % 5]))
        if k % 3:
            probes.append(_ok("azure-eastus", start + timedelta(minutes=8), 0.3, 150))
    store.add_probes(probes)
    for start in starts:
        roll_window(config, store, start, NOW)


def _card_from_whole_rollups(config: Config, store: Store, report: Report, model: str) -> ModelLive:
    """The live card as ``build_report`` computed it before the store summed the outcomes:
    from every whole rollup of the uptime window."""
    spec = config.model(model)
    assert spec is not None
    uptime_since = report.until - timedelta(seconds=config.schema.profile.uptime_window)
    configured = {e.id for e in config.endpoints}
    rollups = [
        r
        for r in store.rollups(
            window_seconds=report.window_seconds,
            since=min(report.since, uptime_since),
            until=report.until,
        )
        if r.endpoint in configured
    ]
    return model_live(
        spec,
        config.endpoints,
        rollups,
        last_window_start=report.until - timedelta(seconds=report.window_seconds),
        uptime_since=uptime_since,
        refreshed_at=report.generated_at,
        last_probe_at={k: v.started_at for k, v in store.last_probes().items()},
        rate_limited_is_down=config.schema.rollup.rate_limited_is_down,
    )


@pytest.mark.parametrize("uptime_window", ["10m", "30m", "2h", "24h", "7d"])
@pytest.mark.parametrize("rate_limited_is_down", [True, False])
def test_live_card_equals_the_card_computed_from_whole_rollups(
    filled: Store, uptime_window: str, rate_limited_is_down: bool
) -> None:
    config = _config(
        profile={"uptime_window": uptime_window},
        rollup={"rate_limited_is_down": rate_limited_is_down},
    )
    _day_of_windows(filled, config)
    ranges = [
        {},
        {"since": W - timedelta(hours=5)},
        {"since": W - timedelta(hours=30), "until": W - timedelta(hours=2)},
        {"since": W - timedelta(minutes=10), "until": W - timedelta(minutes=5)},
        {"model": "other-model"},
    ]
    for kwargs in ranges:
        report = build_report(config, filled, now=NOW, **kwargs)  # type: ignore[arg-type]
        for m in report.models:
            expected = _card_from_whole_rollups(config, filled, report, m.spec.id)
            assert m.live == expected, kwargs


def _profile_from_whole_rollups(
    config: Config, store: Store, now: datetime, model: str
) -> ModelLive:
    """A model's profile as ``snapshot`` computed it before the store summed the outcomes:
    from every whole rollup of the uptime window, and whole last probes."""
    spec = config.model(model)
    assert spec is not None
    window = window_seconds(config)
    last_window = last_complete_window(now, window, settle_seconds(config))
    window_end = last_window + timedelta(seconds=window)
    uptime_since = window_end - timedelta(seconds=config.schema.profile.uptime_window)
    rollups = store.rollups(window_seconds=window, since=uptime_since, until=window_end)
    configured = {e.id for e in config.endpoints}
    rolled = any(r.window_start == last_window and r.endpoint in configured for r in rollups)
    return model_live(
        spec,
        config.endpoints,
        rollups,
        last_window_start=last_window if rolled else None,
        uptime_since=uptime_since,
        refreshed_at=now,
        last_probe_at={k: v.started_at for k, v in store.last_probes().items()},
        rate_limited_is_down=config.schema.rollup.rate_limited_is_down,
    )


@pytest.mark.parametrize("uptime_window", ["10m", "24h"])
def test_snapshot_and_profile_command_equal_the_profile_from_whole_rollups(
    store: Store, uptime_window: str
) -> None:
    config = _config(profile={"uptime_window": uptime_window})
    # Before any rollup, then with a day of them, then with the last window rolled up too.
    moments = [NOW, NOW + timedelta(minutes=30), NOW + timedelta(days=3)]
    for stage in range(3):
        if stage == 1:
            _day_of_windows(store, config)
        if stage == 2:
            fill(store, config, W, now=NOW)
        for now in moments:
            current = snapshot(config, store, now)
            for spec in config.models:
                expected = _profile_from_whole_rollups(config, store, now, spec.id)
                assert current.profiles[spec.id] == expected
                assert model_profile(config, store, spec.id, now) == expected


def test_profile_of_an_unknown_model_is_an_error(store: Store, config: Config) -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'gpt-5'"):
        model_profile(config, store, "gpt-5", NOW)


def test_report_never_includes_an_unfinished_window(filled: Store, config: Config) -> None:
    later = NOW + timedelta(minutes=10)  # inside the window after W, still running
    filled.add_probes([_ok("openai", W + timedelta(minutes=35), 5.0, 1.0)])
    report = build_report(config, filled, now=later, until=later + timedelta(days=1))
    assert report.until == W + timedelta(minutes=30)
    assert _summary(report, "openai")["probes"] == 4


def test_explicit_until_is_rounded_up_to_the_end_of_its_window(
    filled: Store, config: Config
) -> None:
    report = build_report(
        config,
        filled,
        now=NOW,
        since=PREVIOUS + timedelta(minutes=7),
        until=PREVIOUS + timedelta(minutes=8),
    )
    assert (report.since, report.until) == (PREVIOUS, W)
    assert _summary(report, "openai")["probes"] == 2


def test_model_filter_keeps_only_that_model(filled: Store, config: Config) -> None:
    report = build_report(config, filled, now=NOW, model="other-model")
    assert [m.spec.id for m in report.models] == ["other-model"]
    assert [s.endpoint for s in report.endpoints] == ["gateway"]


def test_unknown_model_is_an_error_naming_the_known_ones(filled: Store, config: Config) -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'nope'; known: gpt-4\.1-nano"):
        build_report(config, filled, now=NOW, model="nope")


def test_window_is_known_when_configured_or_stored(filled: Store, config: Config) -> None:
    assert window_is_known(config, filled, 1800)
    assert not window_is_known(config, filled, 900)
    roll_window(replace_window(config, "15m"), filled, W, NOW)
    assert window_is_known(config, filled, 900)


def replace_window(config: Config, window: str) -> Config:
    """``config`` with another rollup window."""
    rollup = config.schema.rollup.model_copy(update={"window": {"15m": 900.0}[window]})
    return replace(config, schema=config.schema.model_copy(update={"rollup": rollup}))


def test_uptime_is_rounded_down_so_failures_never_show_as_100_percent() -> None:
    assert percent(0.99996) == "99.9%"
    assert percent(0.999) == "99.9%"
    assert percent(1.0) == "100.0%"
    assert percent(None) == "—"


# --- renderers ---------------------------------------------------------------------------------


def _table_text(report: Report) -> str:
    out = io.StringIO()
    render_table(report, Console(file=out, width=160, color_system=None))
    return out.getvalue()


def test_table_shows_every_endpoint_with_its_numbers(filled: Store, config: Config) -> None:
    text = _table_text(build_report(config, filled, now=NOW))
    assert "Rollup report · 2025-06-01 12:00 – 12:30 UTC" in text
    assert "87.5% avg uptime · 350 ms best TTFT · 160 tok/s best throughput" in text
    assert "$0.10 input · $0.40 output per 1M tokens" in text
    for endpoint in ("openai", "azure-eastus", "gateway"):
        assert endpoint in text
    for number in ("550 ms", "685 ms", "115", "75.0%", "350 ms", "auth_error 1, timeout 1"):
        assert number in text


def test_markdown_has_a_table_row_per_endpoint(filled: Store, config: Config) -> None:
    text = render_markdown(build_report(config, filled, now=NOW))
    assert text.startswith("# Rollup report · 2025-06-01 12:00 – 12:30 UTC\n")
    assert "## gpt-4.1-nano · OpenAI: GPT-4.1 Nano" in text
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in text.splitlines()
            if line.startswith("| ") and "ms" in line}  # fmt: skip
    assert "| openai | OpenAI | 100.0% | 4 | 550 ms | 685 ms | 115 | — | $0.000080 |" in text
    assert "azure-eastus" in rows
    assert "| azure-eastus | Azure eastus | 75.0% | 5 | 350 ms |" in rows["azure-eastus"]
    assert "| gateway | OpenAI-compatible | — | no data | — | — | — | — | — |" in text
    assert "| 2025-06-01 12:00 – 12:30 | gateway | no data | — | — | — | — | — |" in text


def test_json_report_has_the_documented_structure_and_numbers(
    filled: Store, config: Config
) -> None:
    data = json.loads(render_json(build_report(config, filled, now=NOW)))
    assert data["report_version"] == 1
    assert (data["since"], data["until"]) == (
        "2025-06-01T12:00:00.000000Z",
        "2025-06-01T12:30:00.000000Z",
    )
    assert (data["window_seconds"], data["window"], data["has_data"]) == (1800, "30m", True)
    nano, other = data["models"]
    assert nano["model"] == "gpt-4.1-nano"
    assert nano["pricing"]["input_per_million"] == 0.10
    assert nano["live"]["best_ttft_seconds"] == pytest.approx(0.35)
    assert nano["card"].startswith("87.5% avg uptime")
    assert [e["endpoint"] for e in nano["endpoints"]] == ["openai", "azure-eastus"]
    assert nano["endpoints"][0]["ttft_p50_seconds"] == pytest.approx(0.55)
    assert (other["endpoints"], other["no_data"]) == ([], ["gateway"])
    (window,) = data["windows"]
    assert window["window_start"] == "2025-06-01T12:00:00.000000Z"
    azure = window["endpoints"][1]
    assert azure["endpoint"] == "azure-eastus"
    assert azure["ttft_seconds"]["p50"] == pytest.approx(0.35)
    assert azure["outcomes"] == {"auth_error": 1, "success": 3, "timeout": 1}


def test_csv_has_a_header_and_one_row_per_endpoint_per_window(
    filled: Store, config: Config
) -> None:
    text = render_csv(build_report(config, filled, now=NOW, since=PREVIOUS))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    # One row per stored rollup: azure had no probe at 11:30 and the gateway none at all, so
    # they have no row there (no data), not a row of 0 probes.
    assert [(r["window_start"][11:16], r["endpoint"]) for r in rows] == [
        ("11:30", "openai"), ("12:00", "openai"), ("12:00", "azure-eastus"),
    ]  # fmt: skip
    azure = rows[2]
    assert float(azure["ttft_p50_seconds"]) == pytest.approx(0.35)
    assert float(azure["uptime_ratio"]) == pytest.approx(0.75)
    assert (azure["failures_timeout"], azure["failures_auth_error"]) == ("1", "1")
    assert azure["failures_rate_limited"] == "0"


def test_empty_store_reports_that_there_is_no_data_yet(store: Store, config: Config) -> None:
    report = build_report(config, store, now=NOW)
    assert not report.has_data
    assert "No data yet" in _table_text(report)
    assert "No data yet" in render_markdown(report)
    assert json.loads(render_json(report))["has_data"] is False
    assert render_csv(report) == ",".join(CSV_COLUMNS) + "\n"


STARTED = datetime(2026, 11, 25, 18, 19, 10, tzinfo=UTC)


def test_windows_before_the_monitor_started_are_not_reported(store: Store, tmp_path: Path) -> None:
    """A store created at 18:19 with 1-minute windows; ``report --since 30m`` at 18:21:10."""
    config = _config(rollup={"window": "60s"})
    now = STARTED
    aggregator = Aggregator(config, store, publish=lambda _: None, clock=lambda: now)
    aggregator.backfill()  # start-up: the last two complete windows are 18:17 and 18:18
    probes = [_ok("openai", STARTED + timedelta(seconds=s), 0.5, 100) for s in (10, 40, 70)]
    store.add_probes(probes)
    aggregator.mark_written(probes)
    now = STARTED + timedelta(minutes=2)
    aggregator.tick()

    report = build_report(config, store, now=now, since=now - timedelta(minutes=30))

    assert [w.window_start.strftime("%H:%M") for w in report.windows] == ["18:19", "18:20"]
    table = _table_text(report)
    assert "2 window(s) with rollups" in table
    assert "18:17" not in table and "18:18" not in table
    no_data_lines = [line for line in table.splitlines() if "no data" in line]
    # the summary rows of azure-eastus and gateway, and their rows in each window
    assert len(no_data_lines) == 2 + 2 * 2
    assert not [line for line in table.splitlines() if " 0 " in line and "azure" in line]
    markdown = render_markdown(report)
    assert "| azure-eastus | Azure eastus | — | no data | — | — | — | — | — |" in markdown
    assert "| 2026-11-25 18:19 – 18:20 | azure-eastus | no data |" in markdown
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [(r["window_start"][11:16], r["endpoint"], r["probes"]) for r in rows] == [
        ("18:19", "openai", "2"), ("18:20", "openai", "1"),
    ]  # fmt: skip
    data = json.loads(render_json(report))
    assert [(e["endpoint"], e["probes"]) for e in data["models"][0]["endpoints"]] == [("openai", 3)]
    assert [w["no_data"] for w in data["windows"]] == [["azure-eastus", "gateway"]] * 2
    out = io.StringIO()
    render_profile(
        config.models[0],
        model_profile(config, store, "gpt-4.1-nano", now),
        60,
        3600,
        Console(file=out, width=160, color_system=None),
    )
    azure_line = next(line for line in out.getvalue().splitlines() if "azure-eastus" in line)
    assert "unknown" in azure_line and "no data" in azure_line


# --- the daemon's window files -----------------------------------------------------------------


def test_window_report_files_are_written_whole_into_a_new_directory(
    filled: Store, config: Config, tmp_path: Path
) -> None:
    directory = tmp_path / "reports" / "nested"
    written = write_window_report(directory, snapshot(config, filled, NOW), config, filled)
    assert [p.name for p in written] == ["report-20250601T1200Z.md", "report-20250601T1200Z.json"]
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in written)
    assert written[0].read_text(encoding="utf-8").startswith("# Rollup report · 2025-06-01 12:00")
    data = json.loads(written[1].read_text(encoding="utf-8"))
    assert data["since"] == "2025-06-01T12:00:00.000000Z"
    assert len(data["windows"][0]["endpoints"]) == 2
    assert data["windows"][0]["no_data"] == ["gateway"]


def test_window_report_replaces_an_earlier_file_of_the_same_window(
    filled: Store, config: Config, tmp_path: Path
) -> None:
    (tmp_path / "report-20250601T1200Z.json").write_text("stale", encoding="utf-8")
    write_window_report(tmp_path, snapshot(config, filled, NOW), config, filled)
    assert json.loads((tmp_path / "report-20250601T1200Z.json").read_text(encoding="utf-8"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_report_file_names_carry_seconds_only_for_sub_minute_windows() -> None:
    moment = datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC)
    assert report_basename(moment, 1800) == "report-20250601T1200Z"
    assert report_basename(moment, 5) == "report-20250601T120005Z"


# --- the commands, as real processes -----------------------------------------------------------


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LLM_MONITOR_CONFIG"}
    env.pop("COLUMNS", None)
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env, check=False,
    )  # fmt: skip


@pytest.fixture
def live_store(tmp_path: Path) -> Path:
    """A config whose store holds known probes in every window that could be "the last
    complete one" while the test runs (the clock may cross a boundary)."""
    db = tmp_path / "live.db"
    config_path = tmp_path / "monitor.yaml"
    raw = {"storage": {"url": f"sqlite:///{db}"}, "probe": {"timeout": "5s"},
           "models": MODELS, "endpoints": ENDPOINTS}  # fmt: skip
    config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = _config(f"sqlite:///{db}")
    now = datetime.now(UTC)
    current = window_start(now, 1800)
    store = open_store(config.schema.storage.url)
    try:
        store.upgrade()
        for k in range(-3, 1):
            start = current + timedelta(minutes=30 * k)
            store.add_probes(last_window_probes(start))
            roll_window(config, store, start, now)
    finally:
        store.close()
    return config_path


def test_report_command_prints_the_last_window_as_a_table(live_store: Path) -> None:
    done = _run("report", "--config", str(live_store), cwd=live_store.parent)
    assert done.returncode == 0, done.stderr
    assert "Rollup report" in done.stdout
    assert "avg uptime" in done.stdout
    for endpoint in ("openai", "azure-eastus", "gateway"):
        assert endpoint in done.stdout


@pytest.mark.parametrize("output_format", ["json", "csv", "markdown"])
def test_report_command_prints_each_format_for_an_explicit_range(
    tmp_path: Path, output_format: str
) -> None:
    db = tmp_path / "m.db"
    config = _config(f"sqlite:///{db}")
    store = open_store(config.schema.storage.url)
    try:
        store.upgrade()
        fill(store, config, W, now=NOW)
    finally:
        store.close()
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{db}"},
                                    "probe": {"timeout": "5s"}, "models": MODELS,
                                    "endpoints": ENDPOINTS}), encoding="utf-8")  # fmt: skip
    done = _run("report", "--config", str(path), "--since", "2025-06-01T11:30:00Z",
                "--until", "2025-06-01T14:30+02:00", "--format", output_format,
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    if output_format == "json":
        data = json.loads(done.stdout)
        assert [w["window_start"][11:16] for w in data["windows"]] == ["11:30", "12:00"]
        openai = data["models"][0]["endpoints"][0]
        assert (openai["probes"], openai["ttft_p50_seconds"]) == (6, pytest.approx(0.65))
    elif output_format == "csv":
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        assert len(rows) == 3  # openai in both windows, azure in the second
    else:
        assert "| openai | OpenAI | 100.0% | 6 | 650 ms |" in done.stdout


def test_report_command_on_an_empty_store_says_there_is_no_data(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    store = open_store(f"sqlite:///{db}")
    store.upgrade()
    store.close()
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{db}"}, "models": MODELS,
                                    "endpoints": ENDPOINTS}), encoding="utf-8")  # fmt: skip
    done = _run("report", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "No data yet" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "unknown model 'nope'; known: gpt-4.1-nano, other-model"),
        (["--since", "yesterday"], "--since"),
        (["--until", "2025-06-01T12:00:00"], "no time zone"),
        (["--since", "1h", "--until", "2h"], "is not before"),
        (["--window", "15m"], "not the configured rollup window (30m)"),
        (["--window", "fast"], "--window"),
    ],
)
def test_report_command_exits_2_on_a_usage_error(
    live_store: Path, args: list[str], message: str
) -> None:
    done = _run("report", "--config", str(live_store), *args, cwd=live_store.parent)
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())


def test_report_command_exits_2_when_the_store_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path}/missing.db"},
                                    "models": MODELS, "endpoints": ENDPOINTS}),
                    encoding="utf-8")  # fmt: skip
    done = _run("report", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert "no store at" in done.stderr
    assert not (tmp_path / "missing.db").exists()


def test_report_command_exits_2_when_the_store_url_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": "mysql://db/x"}, "models": MODELS,
                                    "endpoints": ENDPOINTS}), encoding="utf-8")  # fmt: skip
    done = _run("report", "--config", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot open the store" in done.stderr


def test_profile_command_prints_the_card_facts_and_endpoint_lines(live_store: Path) -> None:
    done = _run("profile", "gpt-4.1-nano", "--config", str(live_store), cwd=live_store.parent)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "gpt-4.1-nano · OpenAI: GPT-4.1 Nano" in out
    assert "350 ms best TTFT · 160 tok/s best throughput · 2/2 active endpoints" in out
    assert "available via OpenAI, Azure" in out
    assert "1,047,576 tokens" in out
    assert "$0.10 input · $0.40 output per 1M tokens" in out
    assert "azure-eastus" in out
    assert "degraded" in out  # a timeout in the last window


def test_profile_command_json_is_the_api_profile_document(live_store: Path) -> None:
    done = _run("profile", "gpt-4.1-nano", "--config", str(live_store), "--format", "json",
                cwd=live_store.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["id"] == "gpt-4.1-nano"
    assert data["refresh_interval_seconds"] == 1800
    live = data["live"]
    assert live["best_ttft_seconds"] == pytest.approx(0.35)
    assert live["available_via"] == ["OpenAI", "Azure"]
    assert [e["endpoint"] for e in live["endpoints"]] == ["openai", "azure-eastus"]
    assert set(live["endpoints"][0]) == {
        "endpoint", "provider", "region", "uptime_ratio", "ttft_p50_seconds",
        "ttft_p95_seconds", "output_tokens_per_second_p50", "probes", "failures_by_outcome",
        "last_probe_at", "status", "locations", "answer_ttft_p50_seconds",
        "answer_ttft_p95_seconds",
    }  # fmt: skip


def test_profile_command_exits_2_for_an_unknown_model(live_store: Path) -> None:
    done = _run("profile", "gpt-5", "--config", str(live_store), cwd=live_store.parent)
    assert done.returncode == 2
    assert "unknown model 'gpt-5'; known: gpt-4.1-nano, other-model" in " ".join(
        done.stderr.split()
    )


def _awkward_report() -> Report:
    """A report whose cells are hard to lay out: rich markup and emoji codes that must print as
    they are, double-width characters, a very long name, an empty region."""
    names: list[tuple[str, ProviderId, str | None]] = [
        ("openai", "openai", None),
        ("[bold]markup[/bold]", "azure", ":smile: a:b:c"),
        ("漢字の幅-endpoint", "azure", "ünïcödé"),
        ("a-very-long-endpoint-identifier-that-needs-room", "azure", "westeurope"),
    ]
    summaries = tuple(
        EndpointSummary(
            endpoint=name, model="gpt-4.1-nano", provider=provider, region=region,
            probes=1234 * index, successes=1200 * index, uptime_ratio=0.999 if index else None,
            ttft_p50_seconds=0.5, ttft_p95_seconds=None, output_tokens_per_second_p50=111.0,
            failures_by_outcome={"timeout": 2, "server_error": 1} if index % 2 else {},
            output_tokens=10, input_tokens=5, cost_usd=0.0001, source="probes",
        )
        for index, (name, provider, region) in enumerate(names)
    )  # fmt: skip
    spec = ModelSpec(id="gpt-4.1-nano", name="[i]not italic[/i]")
    live = model_live(spec, [], [], last_window_start=None, uptime_since=W, refreshed_at=NOW)
    model = ReportModel(spec=spec, live=live, summaries=summaries, window_seconds=1800)
    return Report(
        generated_at=NOW, since=W, until=W + timedelta(minutes=30), window_seconds=1800,
        models=(model,), windows=(),
    )  # fmt: skip


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
@pytest.mark.parametrize("terminal", [False, True])
def test_tables_keep_every_cell_literal_whole_and_aligned_at_any_width(
    width: int, terminal: bool
) -> None:
    from rich.cells import cell_len
    from rich.text import Text

    out = io.StringIO()
    render_table(_awkward_report(), Console(file=out, width=width, force_terminal=terminal))
    text = Text.from_ansi(out.getvalue()).plain
    table = [line for line in text.splitlines() if line and line[0] in "┏┃┡│└"]
    # Every row of the table is as wide as its top border: no cell pushed a column out of line.
    assert len({cell_len(line) for line in table}) == 1, "\n".join(table)
    assert cell_len(table[0]) <= width
    # Markup and emoji codes print as they are, never as styles or emoji.
    assert "[bold]" in text and "😄" not in text
    if width >= 200:  # room for every name on one line, each whole
        for name in ("[bold]markup[/bold]", ":smile: a:b:c", "漢字の幅-endpoint", "ünïcödé",
                     "a-very-long-endpoint-identifier-that-needs-room"):  # fmt: skip
            assert any(name in line for line in table), name


def test_reports_and_the_profile_show_uptime_by_quorum_and_each_location(
    config: Config, store: Store
) -> None:
    # openai probed every minute from two places: from "paris" it fails every other minute,
    # from "tokyo" never. A slot is down only when both failed (majority of 2 = 2), so the
    # endpoint is up by quorum while paris's own uptime is 50 %.
    last = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    probes = []
    for k in range(30):
        at = last + k * minute + timedelta(seconds=5)
        tokyo = _ok("openai", at, 0.3, 200)
        probes.append(replace(tokyo, location="tokyo", agent="t"))
        paris = _ok("openai", at + timedelta(seconds=20), 0.5, 120)
        if k % 2:
            paris = _failed("openai", paris.started_at, Outcome.SERVER_ERROR)
        probes.append(replace(paris, location="paris", agent="p"))
    store.add_probes(probes)
    now = last + timedelta(minutes=41)
    roll_window(config, store, last, now)

    report = build_report(config, store, now=now, model="gpt-4.1-nano")
    (m,) = report.models
    assert m.live.locations == ("paris", "tokyo")
    assert m.live.endpoints[0].uptime_ratio == 1.0
    line = card_line(m.live, 1800)
    assert "100.0% avg uptime (2 locations)" in line
    assert (
        "300 ms best TTFT (from tokyo)" in line and "200 tok/s best throughput (from tokyo)" in line
    )

    markdown = render_markdown(report)
    assert "By location, uptime over the profile's span" in markdown
    assert "| openai | paris | 50.0% | 500 ms | 500 ms | 120 | 30 |" in markdown
    assert "| openai | tokyo | 100.0% | 300 ms | 300 ms | 200 | 30 |" in markdown
    out = io.StringIO()
    render_table(report, Console(file=out, width=160, color_system=None))
    assert "By location" in out.getvalue() and "paris" in out.getvalue()
    out = io.StringIO()
    spec = config.model("gpt-4.1-nano")
    assert spec is not None
    render_profile(spec, m.live, 1800, 86_400, Console(file=out, width=160, color_system=None))
    assert "(2 locations)" in out.getvalue() and "tokyo" in out.getvalue()
    assert json.loads(render_json(report))["models"][0]["live"]["locations"] == ["paris", "tokyo"]


# --- incidents ---------------------------------------------------------------------------------


def _incident(endpoint: str, start: datetime, end: datetime | None, model: str) -> Incident:
    return Incident(
        endpoint=endpoint, model=model, provider="azure", started_at=start, ended_at=end,
        checked_at=end or NOW, last_down_at=start, down_slots=4,
        outcomes={"server_error": 3, "timeout": 1},
        first_error="HTTP 500: server_error: The server had an error", last_error="timed out",
    )  # fmt: skip


def test_incidents_of_the_range_are_counted_listed_and_rendered(
    filled: Store, config: Config
) -> None:
    filled.upsert_incidents(
        [
            # 12 minutes inside the range, then one that began 5 minutes before it and ended
            # 3 minutes into it (3 minutes count), one still open at its end (it started 25
            # minutes in: 5 minutes count), one of another model's endpoint, one long before.
            _incident("azure-eastus", W + timedelta(minutes=2), W + timedelta(minutes=14),
                      "gpt-4.1-nano"),
            _incident("openai", W - timedelta(minutes=5), W + timedelta(minutes=3),
                      "gpt-4.1-nano"),
            _incident("openai", W + timedelta(minutes=25), None, "gpt-4.1-nano"),
            _incident("gateway", W + timedelta(minutes=1), W + timedelta(minutes=2),
                      "other-model"),
            _incident("openai", W - timedelta(hours=5), W - timedelta(hours=4),
                      "gpt-4.1-nano"),
        ]
    )  # fmt: skip
    report = build_report(config, filled, now=NOW, model="gpt-4.1-nano")
    data = json.loads(render_json(report))["incidents"]
    assert data["summary"] == {
        "count": 3,
        "open": 1,
        "downtime_seconds": (12 + 3 + 5) * 60.0,
        "longest_seconds": 12 * 60.0,
    }
    assert [(i["endpoint"], i["open"]) for i in data["incidents"]] == [
        ("openai", True), ("azure-eastus", False), ("openai", False),
    ]  # fmt: skip
    assert data["incidents"][1]["duration_seconds"] == 720.0
    assert data["incidents"][1]["id"] == "azure-eastus@2025-06-01T12:02:00.000000Z"

    markdown = render_markdown(report)
    assert "## Incidents\n\n3 incidents: 20m 0s down in the range, the longest 12m 0s;" \
           " 1 still open at the end\n" in markdown  # fmt: skip
    assert (
        "| azure-eastus | 2025-06-01T12:02:00Z | 2025-06-01T12:14:00Z | 12m 0s | 4 |"
        " server_error 3, timeout 1 | HTTP 500: server_error: The server had an error |"
    ) in markdown
    assert "| openai | 2025-06-01T12:25:00Z | open | 6m 0s so far | 4 |" in markdown
    table = _table_text(report)
    assert "3 incidents: 20m 0s down in the range" in table
    assert "12m 0s" in table and "6m 0s so far" in table
    # Without incidents in the range, no section at all.
    assert "## Incidents" not in render_markdown(
        build_report(config, filled, now=NOW, model="other-model", since=W - timedelta(hours=2),
                     until=W - timedelta(hours=1))
    )  # fmt: skip


# --- answer TTFT -------------------------------------------------------------------------------


def test_answer_ttft_is_in_rollups_the_profile_and_the_report(store: Store, config: Config) -> None:
    # A reasoning endpoint: its first token (reasoning) comes at 0.3-0.5 s, its answer at
    # 1.1-1.5 s; the other one streams no reasoning (answer TTFT = TTFT).
    minute = timedelta(minutes=1)
    probes = [
        replace(_ok("azure-eastus", W + (i + 1) * minute, 0.3 + i / 10, 150),
                answer_ttft_seconds=1.1 + i / 5)
        for i in range(3)
    ] + [_ok("openai", W + (i + 1) * minute, 0.9, 100) for i in range(3)]  # fmt: skip
    store.add_probes(probes)
    roll_window(config, store, W, NOW)
    (rollup,) = store.rollups(window_seconds=1800, endpoint="azure-eastus")
    assert rollup.answer_ttft.count == 3
    assert rollup.answer_ttft.p50 == pytest.approx(1.3)
    assert rollup.ttft.p50 == pytest.approx(0.4)
    assert dump(rollup)["answer_ttft_seconds"]["p50"] == pytest.approx(1.3)

    live = snapshot(config, store, NOW).profiles["gpt-4.1-nano"]
    assert live.best_ttft_seconds == pytest.approx(0.4)  # the reasoning endpoint's first token
    assert live.best_answer_ttft_seconds == pytest.approx(0.9)  # but openai answers first
    assert live.best_answer_ttft_from is not None
    assert live.best_answer_ttft_from.endpoint == "openai"
    line = next(x for x in live.endpoints if x.endpoint == "azure-eastus")
    assert line.answer_ttft_p50_seconds == pytest.approx(1.3)
    assert line.answer_ttft_p95_seconds == pytest.approx(1.48)

    report = build_report(config, store, now=NOW, model="gpt-4.1-nano")
    summary = _summary(report, "azure-eastus")
    assert summary["answer_ttft_p50_seconds"] == pytest.approx(1.3)
    markdown = render_markdown(report)
    assert (
        "| endpoint | via | uptime | probes | TTFT p50 | TTFT p95 | answer p50 | tok/s p50 |"
        in (markdown)
    )
    assert "| azure-eastus | Azure eastus | 100.0% | 3 | 400 ms | 490 ms | 1,300 ms |" in markdown
    assert "| openai | OpenAI | 100.0% | 3 | 900 ms | 900 ms | 900 ms |" in markdown
    assert "answer p50" in _table_text(report)


def test_without_reasoning_the_report_has_no_answer_column(filled: Store, config: Config) -> None:
    report = build_report(config, filled, now=NOW)
    assert "answer p50" not in render_markdown(report)
    assert _summary(report, "openai")["answer_ttft_p50_seconds"] == pytest.approx(0.55)
