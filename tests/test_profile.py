"""The model profile's live numbers from rollups (docs/design.md#model-profile)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.profile import model_live
from monitor.core.rollup import EndpointIdentity, EndpointRollup, ProbeRow, compute_rollup

CONFIG = """
models: [{id: gpt-4.1-nano}, {id: other}]
endpoints:
  - {id: openai, model: gpt-4.1-nano, provider: openai, base_url: "https://a/v1", api_key_env: K}
  - {id: azure-eastus, model: gpt-4.1-nano, provider: azure, base_url: "https://b",
     deployment: d, api_key_env: K, region: eastus}
  - {id: unrelated, model: other, provider: openai, base_url: "https://c/v1", api_key_env: K}
"""
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = 1800


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG, environ={"K": "k"})


def _rollup(
    config: Config,
    endpoint_id: str,
    start: datetime,
    outcomes: list[Outcome],
    ttft: float,
    speed: float,
) -> EndpointRollup:
    endpoint = next(e for e in config.endpoints if e.id == endpoint_id)
    rows = [
        ProbeRow(
            endpoint_id,
            o,
            ttft if o is Outcome.SUCCESS else None,
            speed if o is Outcome.SUCCESS else None,
            1.0,
            40,
            20,
            0.00002,
        )
        for o in outcomes
    ]
    ident = EndpointIdentity(endpoint.id, endpoint.model.id, endpoint.provider, endpoint.region)
    return compute_rollup(ident, rows, start, WINDOW)


def test_profile_takes_best_ttft_and_speed_from_the_last_window(config: Config) -> None:
    ok = [Outcome.SUCCESS] * 4
    rollups = [
        _rollup(config, "openai", T0, ok, 0.400, 150.0),  # an older, faster window: ignored
        _rollup(config, "openai", T0 + timedelta(minutes=30), ok, 0.531, 95.0),
        _rollup(config, "azure-eastus", T0 + timedelta(minutes=30), ok, 0.700, 111.0),
        _rollup(config, "unrelated", T0 + timedelta(minutes=30), ok, 0.1, 999.0),
    ]
    model = config.model("gpt-4.1-nano")
    assert model is not None
    live = model_live(
        model,
        config.endpoints,
        rollups,
        last_window_start=T0 + timedelta(minutes=30),
        uptime_since=T0,
        refreshed_at=T0 + timedelta(hours=1),
    )
    assert live.best_ttft_seconds == pytest.approx(0.531)
    assert live.best_output_tokens_per_second == pytest.approx(111.0)
    assert (live.active_endpoints, live.total_endpoints) == (2, 2)
    assert live.available_via == ("OpenAI", "Azure")
    assert live.avg_uptime_ratio == 1.0
    assert live.window_end == T0 + timedelta(hours=1)
    data = live.to_json_dict()
    assert data["window_start"] == "2026-11-25T12:30:00.000000Z"
    assert [e["endpoint"] for e in data["endpoints"]] == ["openai", "azure-eastus"]
    assert data["endpoints"][1]["region"] == "eastus"


def test_a_failing_endpoint_lowers_uptime_and_the_active_count(config: Config) -> None:
    start = T0 + timedelta(minutes=30)
    rollups = [
        _rollup(config, "openai", T0, [Outcome.SUCCESS] * 10, 0.5, 100.0),
        _rollup(config, "openai", start, [Outcome.SUCCESS] * 10, 0.5, 100.0),
        _rollup(config, "azure-eastus", T0, [Outcome.SUCCESS] * 10, 0.6, 90.0),
        _rollup(config, "azure-eastus", start, [Outcome.SERVER_ERROR] * 10, 0.6, 90.0),
    ]
    model = config.model("gpt-4.1-nano")
    assert model is not None
    live = model_live(
        model,
        config.endpoints,
        rollups,
        last_window_start=start,
        uptime_since=T0,
        refreshed_at=start,
    )
    # openai 20/20, azure 10/20: the mean of the two endpoints' uptimes.
    assert live.avg_uptime_ratio == pytest.approx(0.75)
    assert (live.active_endpoints, live.total_endpoints) == (1, 2)
    assert live.available_via == ("OpenAI",)
    assert live.best_ttft_seconds == pytest.approx(0.5)
    azure = next(e for e in live.endpoints if e.endpoint == "azure-eastus")
    assert azure.status == "down" and azure.failures_by_outcome == {"server_error": 10}


def test_profile_without_data_is_all_unknown(config: Config) -> None:
    model = config.model("gpt-4.1-nano")
    assert model is not None
    live = model_live(
        model, config.endpoints, [], last_window_start=None, uptime_since=T0, refreshed_at=T0
    )
    assert live.avg_uptime_ratio is None and live.best_ttft_seconds is None
    assert (live.active_endpoints, live.total_endpoints) == (0, 2)
    assert live.window_start is None and live.available_via == ()
    assert {e.status for e in live.endpoints} == {"unknown"}
    assert {e.probes for e in live.endpoints} == {None}  # no data, not 0 probes
