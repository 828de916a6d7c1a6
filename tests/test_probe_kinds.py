"""Probe kinds (docs/design.md#probe-kinds) against the simulator over loopback: a kind of
10,000 input tokens sends a prompt the simulator counts at 10,000 ± 5 % (its
usage.prompt_tokens, which the probe reports), and its TTFT is the simulator's scripted TTFT
for that size; the runner sizes later prompts from the provider's count; every result carries
its kind, and the daemon's scheduler probes each kind on its own interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import yaml

from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.spend import estimate_spend
from monitor.metrics import exposition
from monitor.probing.runner import ProbeRunner
from monitor.reports.build import build_report
from monitor.reports.formats import render_markdown
from monitor.service.aggregator import roll_window, snapshot
from monitor.service.daemon import Daemon
from monitor.simulator import Simulator, SimulatorConfig
from monitor.store import open_store
from tests.store.factories import make_probe

KEY = "sk-kinds-0123456789"
ON_SIM_LOOP = pytest.mark.asyncio(loop_scope="module")
#: 100 ms, plus 50 ms per 1,000 prompt tokens: about 0.6 s for 10,000.
BASE_TTFT, PER_1K = 0.1, 0.05


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig.model_validate(
        {"port": 0, "endpoints": [
            {"id": "sim", "api_key": KEY, "ttft": f"{BASE_TTFT}s",
             "ttft_per_1k_input_tokens": f"{PER_1K}s", "tokens_per_second": 1000},
        ]}
    )  # fmt: skip
    async with Simulator(config) as simulator:
        yield simulator


def _config(sim: Simulator, **probe: Any) -> Config:
    raw = {
        "probe": {"timeout": "10s", "jitter": 0, "kinds": [
            {"name": "long", "input_tokens": 10_000, "interval": "5m", "max_tokens": 120},
        ], **probe},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [{"id": "e", "model": "gpt-4.1-nano", "provider": "openai",
                       "base_url": sim.endpoint_url("sim"), "api_key_env": "K"}],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": KEY})


def test_each_kind_is_a_probe_target_with_its_own_settings(tmp_path: Any) -> None:
    raw = {
        "probe": {"interval": "30s", "max_tokens": 96,
                  "kinds": [{"name": "long", "input_tokens": 10_000, "interval": "5m"}]},
        "models": [{"id": "m"}],
        "endpoints": [
            {"id": "a", "model": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1",
             "api_key_env": "K"},
            {"id": "b", "model": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1",
             "api_key_env": "K", "kinds": []},
        ],
    }  # fmt: skip
    config = parse_config(yaml.safe_dump(raw), environ={"K": KEY})
    targets = {t.key: t for t in config.probe_targets()}
    assert set(targets) == {"a", "a#long", "b"}
    long = targets["a#long"]
    assert (long.id, long.kind, long.input_tokens) == ("a", "long", 10_000)
    assert (long.probe.interval, long.probe.max_tokens) == (300.0, 96)
    assert targets["a"].kind == "short" and targets["a"].input_tokens is None
    bad = {**raw, "probe": {"kinds": [{"name": "short", "input_tokens": 5}]}}
    with pytest.raises(Exception, match="'short' is the default kind"):
        parse_config(yaml.safe_dump(bad), environ={"K": KEY})
    twice = {**raw, "probe": {"kinds": [{"name": "x", "input_tokens": 5}] * 2}}
    with pytest.raises(Exception, match="kind 'x' is defined twice"):
        parse_config(yaml.safe_dump(twice), environ={"K": KEY})


@pytest.mark.serial  # its TTFT against the simulator's scripted one, to 80 ms
@ON_SIM_LOOP
async def test_a_10000_token_kind_is_counted_at_10000_and_has_the_ttft_of_that_size(
    sim: Simulator,
) -> None:
    config = _config(sim)
    short, long = config.probe_targets()
    runner = ProbeRunner()
    try:
        plain = await runner.probe(short)
        first = await runner.probe(long)
        second = await runner.probe(long)
    finally:
        await runner.aclose()
    assert plain.kind == "short" and first.kind == second.kind == "long"
    for result in (plain, first, second):
        assert result.outcome is Outcome.SUCCESS, result.error
    assert plain.input_tokens is not None and plain.input_tokens < 40
    for result in (first, second):
        truth = sim.truth(result.provider_request_id or "")
        assert truth is not None and truth.usage_prompt_tokens == result.input_tokens
        assert result.input_tokens == pytest.approx(10_000, rel=0.05)
        # The simulator's scripted TTFT for the size it counted, as the probe measured it.
        scripted = BASE_TTFT + (result.input_tokens or 0) / 1000 * PER_1K
        assert truth.planned_ttft_seconds == pytest.approx(scripted)
        assert result.ttft_seconds == pytest.approx(scripted, abs=0.08)
    # The second prompt was sized from the first's count: within the half percent the runner
    # resizes at (the probe's unique prefix moves the count by a few tokens either way).
    assert abs((second.input_tokens or 0) - 10_000) <= max(
        abs((first.input_tokens or 0) - 10_000), 50
    )
    assert plain.ttft_seconds is not None and first.ttft_seconds is not None
    assert first.ttft_seconds - plain.ttft_seconds == pytest.approx(0.5, abs=0.08)


@ON_SIM_LOOP
async def test_the_answer_check_applies_to_a_kind_as_to_the_plain_prompt(sim: Simulator) -> None:
    config = _config(sim)
    _short, long = config.probe_targets()
    runner = ProbeRunner()
    try:
        result = await runner.probe(long)
    finally:
        await runner.aclose()
    # The question (count to 40) comes after the filler; the simulator answers it whole.
    assert result.outcome is Outcome.SUCCESS and result.finish_reason == "stop"
    assert result.output_tokens == 79


@ON_SIM_LOOP
async def test_the_daemon_probes_each_kind_and_keeps_kinds_apart(
    sim: Simulator, tmp_path: Any
) -> None:
    config = _config(
        sim, interval="2s", timeout="2s",
        kinds=[{"name": "long", "input_tokens": 4_000, "interval": "2s"}],
    )  # fmt: skip
    config = parse_config(
        yaml.safe_dump(
            {**config.schema.model_dump(mode="json", exclude_none=True),
             "storage": {"url": f"sqlite:///{tmp_path / 'm.db'}"}}
        ),
        environ={"K": KEY},
    )  # fmt: skip
    daemon = Daemon(config)
    began = datetime.now(UTC)
    await asyncio.to_thread(daemon.start)
    try:
        await asyncio.sleep(5)
    finally:
        await asyncio.to_thread(daemon.stop)
    # Stopped: every probe is stored and counted.
    text = exposition(daemon.registry)[0].decode()
    store = open_store(config.schema.storage.url)
    try:
        stored = store.probes(since=began - timedelta(seconds=1))
        kinds = {p.kind for p in stored}
        assert kinds == {"short", "long"}
        longs = [p for p in stored if p.kind == "long" and p.outcome is Outcome.SUCCESS]
        assert longs
        assert all(3_800 <= (p.input_tokens or 0) <= 4_200 for p in longs)
        # The rollups count the default kind only.
        window = (began.timestamp() // 1800) * 1800
        start = datetime.fromtimestamp(window, UTC)
        (rollup,) = roll_window(config, store, start, datetime.now(UTC))
        assert rollup.probes == sum(1 for p in stored if p.kind == "short")
    finally:
        store.close()
    # The default families count the default kind; the kind families both, apart.
    shorts = sum(1 for p in stored if p.kind == "short" and p.outcome is Outcome.SUCCESS)
    labels = 'endpoint="e",location="local",model="gpt-4.1-nano",outcome="success"'
    assert f'llm_monitor_probes_total{{{labels},provider="openai"}} {shorts:.1f}' in text
    assert 'llm_monitor_kind_time_to_first_token_seconds_count{endpoint="e",kind="long"' in text
    assert 'llm_monitor_kind_time_to_first_token_seconds_count{endpoint="e",kind="short"' in text


def test_the_profile_and_the_report_give_the_best_ttft_of_each_kind(tmp_path: Any) -> None:
    raw = {
        "storage": {"url": f"sqlite:///{tmp_path / 'k.db'}"},
        "probe": {"timeout": "5s", "kinds": [{"name": "long", "input_tokens": 10_000}]},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {"id": e, "model": "gpt-4.1-nano", "provider": "openai",
             "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"}
            for e in ("a", "b")
        ],
    }  # fmt: skip
    config = parse_config(yaml.safe_dump(raw), environ={"K": KEY})
    window = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    now = window + timedelta(minutes=31)
    minute = timedelta(minutes=1)
    probes = [
        # a: 0.3 s short, 2.0 s long; b: 0.4 s short, 1.5 s long (b is the best at 10k).
        *(make_probe(endpoint="a", provider="openai", started_at=window + i * minute,
                     ttft_seconds=0.3) for i in range(3)),
        *(make_probe(endpoint="b", provider="openai", started_at=window + i * minute,
                     ttft_seconds=0.4) for i in range(3)),
        *(make_probe(endpoint="a", provider="openai", kind="long", input_tokens=10_050,
                     started_at=window + i * minute, ttft_seconds=2.0) for i in range(3)),
        *(make_probe(endpoint="b", provider="openai", kind="long", input_tokens=9_980,
                     started_at=window + i * minute, ttft_seconds=1.5) for i in range(3)),
    ]  # fmt: skip
    store = open_store(config.schema.storage.url)
    try:
        store.upgrade()
        store.add_probes(probes)
        roll_window(config, store, window, now)
        live = snapshot(config, store, now).profiles["gpt-4.1-nano"]
        report = build_report(config, store, now=now)
    finally:
        store.close()
    # The long kind's probes change nothing of the default numbers.
    assert live.best_ttft_seconds == pytest.approx(0.3)
    assert [(k.kind, k.input_tokens) for k in live.kinds] == [("short", None), ("long", 10_000)]
    long = live.kinds[1]
    assert long.best_ttft_seconds == pytest.approx(1.5)
    assert long.best_ttft_from is not None and long.best_ttft_from.endpoint == "b"
    assert {e.endpoint: e.input_tokens_p50 for e in long.endpoints} == {"a": 10_050, "b": 9_980}
    markdown = render_markdown(report)
    assert "| long | 10,000 | 1,500 ms | b |" in markdown
    assert "| short | plain prompt | 300 ms | a |" in markdown


def test_the_spend_estimate_counts_each_kind_at_its_size() -> None:
    raw = {
        "probe": {"interval": "60s", "max_tokens": 96,
                  "kinds": [{"name": "long", "input_tokens": 10_000, "interval": "10m"}]},
        "models": [{"id": "m", "pricing": {"input_per_million": 0.1, "output_per_million": 0.4}}],
        "endpoints": [{"id": "a", "model": "m", "provider": "openai",
                       "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"}],
    }  # fmt: skip
    config = parse_config(yaml.safe_dump(raw), environ={"K": KEY})
    short, long = estimate_spend(config.probe_targets())
    assert (short.endpoint, long.endpoint) == ("a", "a#long")
    assert (long.probes_per_day, long.input_tokens, long.output_tokens) == (144, 10_000, 96)
    assert long.usd_per_day == pytest.approx(144 * (10_000 * 0.1 + 96 * 0.4) / 1e6)
