"""The model profile's live numbers from rollups (docs/design.md#model-profile)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.profile import BestFrom, model_live
from monitor.core.rollup import (
    EndpointIdentity,
    EndpointRollup,
    ProbeRow,
    compute_rollup,
    rollups_by_location,
)
from monitor.reports.text import card_line

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


def _located(
    config: Config, endpoint_id: str, start: datetime, votes: dict[str, tuple[bool, float]]
) -> tuple[EndpointRollup, list[EndpointRollup]]:
    """One window of ``endpoint_id`` probed every 60 s from each location of ``votes``
    (location -> (succeeds, TTFT)), each location 10 s after the one before."""
    endpoint = next(e for e in config.endpoints if e.id == endpoint_id)
    rows = [
        ProbeRow(
            endpoint_id,
            Outcome.SUCCESS if ok else Outcome.SERVER_ERROR,
            ttft if ok else None,
            100.0 / ttft if ok else None,
            1.0,
            40,
            20,
            0.0,
            location=loc,
            offset_seconds=k * 60 + 10 * n,
        )
        for n, (loc, (ok, ttft)) in enumerate(votes.items())
        for k in range(WINDOW // 60)
    ]
    ident = EndpointIdentity(endpoint.id, endpoint.model.id, endpoint.provider, endpoint.region)
    return rollups_by_location(ident, rows, start, WINDOW, slot_seconds=60)


def test_several_locations_uptime_by_quorum_each_location_and_best_from_where(
    config: Config,
) -> None:
    # openai fails from b alone (up by majority); azure is slower everywhere but fastest from c.
    last = T0 + timedelta(minutes=30)
    o_across, o_located = _located(
        config, "openai", last, {"a": (True, 0.5), "b": (False, 0.0), "c": (True, 0.45)}
    )
    z_across, z_located = _located(
        config, "azure-eastus", last, {"a": (True, 0.9), "b": (True, 0.8), "c": (True, 0.4)}
    )
    # An earlier window that only b probed: it counts its probes (all failed).
    early, early_located = _located(config, "openai", T0, {"b": (False, 0.0)})
    model = config.model("gpt-4.1-nano")
    assert model is not None
    live = model_live(
        model,
        config.endpoints,
        [early, o_across, z_across],
        location_rollups=[*early_located, *o_located, *z_located],
        last_window_start=last,
        uptime_since=T0,
        refreshed_at=last + timedelta(minutes=31),
    )
    openai, azure = live.endpoints
    # 30 failed probes from b alone, then 30 slots up by quorum.
    assert openai.uptime_ratio == pytest.approx(30 / 60)
    assert azure.uptime_ratio == 1.0
    assert live.locations == ("a", "b", "c")
    by_location = {loc.location: loc for loc in openai.locations}
    assert by_location["b"].uptime_ratio == 0.0 and by_location["b"].probes == 30
    assert by_location["a"].uptime_ratio == 1.0
    assert by_location["a"].ttft_p50_seconds == pytest.approx(0.5)
    # Best TTFT is one location's p50 (azure from c), not a p50 across places (0.8 there).
    assert live.best_ttft_seconds == pytest.approx(0.4)
    assert live.best_ttft_from == BestFrom(endpoint="azure-eastus", location="c")
    assert live.best_output_tokens_per_second == pytest.approx(250.0)
    assert live.best_output_tokens_per_second_from == BestFrom(
        endpoint="azure-eastus", location="c"
    )
    line = card_line(live, WINDOW)
    assert "75.0% avg uptime (3 locations)" in line
    assert "400 ms best TTFT (from c)" in line

    # Without the early window: openai's uptime is the quorum's alone, b's own stays 0.
    later = model_live(
        model,
        config.endpoints,
        [o_across, z_across],
        location_rollups=[*o_located, *z_located],
        last_window_start=last,
        uptime_since=last,
        refreshed_at=last + timedelta(minutes=31),
    )
    assert later.endpoints[0].uptime_ratio == 1.0
    assert later.endpoints[0].locations[1].uptime_ratio == 0.0


def test_one_location_profile_and_card_are_as_without_locations(config: Config) -> None:
    last = T0 + timedelta(minutes=30)
    across, located = _located(config, "openai", last, {"here": (True, 0.531)})
    model = config.model("gpt-4.1-nano")
    assert model is not None
    live, bare = (
        model_live(
            model,
            config.endpoints,
            [across],
            location_rollups=where,
            last_window_start=last,
            uptime_since=T0,
            refreshed_at=last,
        )
        for where in (located, [])
    )
    assert live.locations == ("here",) and bare.locations == ()
    assert live.best_ttft_seconds == bare.best_ttft_seconds == pytest.approx(0.531)
    assert card_line(live, WINDOW) == card_line(bare, WINDOW)
    assert "locations" not in card_line(live, WINDOW) and "from" not in card_line(live, WINDOW)
