"""The HTTP API over a real SQLite store: every route, its errors, its OpenAPI document, and no
secret in any response. Most tests talk ASGI in process; one goes over a real socket."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_schema_validator import validate as validate_instance
from openapi_spec_validator import validate as validate_spec
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.routing import Route

from monitor.api.app import create_app
from monitor.api.openapi import openapi_document
from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import EndpointIdentity, EndpointRollup, ProbeRow, compute_rollup
from monitor.core.status import endpoint_state
from monitor.metrics import LiveCollector, LiveState, ProbeMetrics
from monitor.service.aggregator import Aggregator, Snapshot, roll_window, snapshot
from monitor.store import Store, open_store
from tests.served import served
from tests.store.factories import bare_probe, make_probe

CANARY = "sk-canary-api-3e7b9d1f5a2c4e6b8d0f"
W = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # the last complete window at NOW
PREVIOUS = W - timedelta(minutes=30)
NOW = W + timedelta(minutes=31)
CONFIG = {
    "probe": {"timeout": "5s", "interval": "60s"},
    "models": [
        {
            "id": "gpt-4.1-nano",
            "name": "OpenAI: GPT-4.1 Nano",
            "creator": "openai",
            "release_date": "2025-04-14",
            "pricing": {"input_per_million": 0.10, "output_per_million": 0.40},
            "context_window": 1047576,
            "max_output_tokens": 32768,
            "capabilities": ["tool_use", "vision"],
            "metadata": {"mmlu": 0.801},
        },
        {"id": "other-model"},
    ],
    "endpoints": [
        {"id": "openai", "model": "gpt-4.1-nano", "provider": "openai",
         "base_url": "https://api.openai.com/v1", "api_key_env": "CANARY_KEY"},
        {"id": "azure-eastus", "model": "gpt-4.1-nano", "provider": "azure",
         "base_url": "https://r.openai.azure.com", "deployment": "nano", "region": "eastus",
         "api_version": "2024-10-21", "api_key_env": "CANARY_KEY"},
        {"id": "gateway", "model": "other-model", "provider": "openai_compatible",
         "base_url": "https://gateway.example/v1", "api_key_env": "CANARY_KEY"},
    ],
}  # fmt: skip
PROFILE_LIVE_FIELDS = {
    "window_start", "window_end", "refreshed_at", "avg_uptime_ratio", "best_ttft_seconds",
    "best_output_tokens_per_second", "active_endpoints", "total_endpoints", "available_via",
    "endpoints", "best_ttft_from", "best_output_tokens_per_second_from", "locations",
    "best_answer_ttft_seconds", "best_answer_ttft_from", "kinds",
}  # fmt: skip
PROFILE_ENDPOINT_FIELDS = {
    "endpoint", "provider", "region", "uptime_ratio", "ttft_p50_seconds", "ttft_p95_seconds",
    "output_tokens_per_second_p50", "probes", "failures_by_outcome", "last_probe_at", "status",
    "locations", "answer_ttft_p50_seconds", "answer_ttft_p95_seconds",
}  # fmt: skip


# --- a daemon's view, backed by a real store ---------------------------------------------------


@dataclass
class FakeView:
    """A ``MonitorView`` like the daemon's: a real store, a snapshot, the last probes."""

    config: Config
    store: Store
    registry: CollectorRegistry
    current: Snapshot | None
    last: dict[str, ProbeResult] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)

    def snapshot(self) -> Snapshot | None:
        return self.current

    def last_probes(self) -> Mapping[str, ProbeResult]:
        return self.last

    def budget(self) -> None:
        return None

    def problems(self) -> list[str]:
        return list(self.issues)


class ThreadRecordingStore:
    """Passes every call to the real store, noting the thread it came from."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.threads: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.threads.append((name, threading.get_ident()))
            return attribute(*args, **kwargs)

        return call


def _ok(endpoint: str, at: datetime, ttft: float, speed: float) -> ProbeResult:
    provider = {"openai": "openai", "azure-eastus": "azure"}[endpoint]
    return make_probe(endpoint=endpoint, provider=provider,
                      region="eastus" if provider == "azure" else None, started_at=at,
                      ttft_seconds=ttft, output_tokens_per_second=speed,
                      error=None)  # fmt: skip


def _probes() -> list[ProbeResult]:
    minute = timedelta(minutes=1)
    return [
        *(_ok("openai", W + (i + 1) * minute, t, 100 + 10 * i)
          for i, t in enumerate([0.4, 0.5, 0.6, 0.7])),
        *(_ok("azure-eastus", W + (i + 1) * minute, t, 150 + 10 * i)
          for i, t in enumerate([0.30, 0.35, 0.40])),
        bare_probe(endpoint="azure-eastus", provider="azure", region="eastus",
                   started_at=W + 10 * minute, outcome=Outcome.TIMEOUT, duration_seconds=5.0),
        _ok("openai", PREVIOUS + minute, 0.9, 90),
    ]  # fmt: skip


@pytest.fixture
def config() -> Config:
    loaded = parse_config(yaml.safe_dump(CONFIG), environ={"CANARY_KEY": CANARY})
    key = loaded.endpoints[0].api_key
    assert key is not None and key.get_secret_value() == CANARY  # the canary is really loaded
    return loaded


@pytest.fixture
def store(tmp_path: Path, config: Config) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/m.db")
    opened.upgrade()
    opened.add_probes(_probes())
    for start in (PREVIOUS, W):
        roll_window(config, opened, start, NOW)
    yield opened
    opened.close()


def _registry(config: Config, current: Snapshot, probes: list[ProbeResult]) -> CollectorRegistry:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.declare_endpoints(config.endpoints)
    for probe in probes:
        metrics.observe(probe)
    live = LiveCollector()
    live.publish(LiveState(current.rollups, config.models, tuple(current.profiles.values())))
    registry.register(live)
    return registry


@pytest.fixture
def view(config: Config, store: Store) -> FakeView:
    current = snapshot(config, store, NOW)
    last = store.last_probes()
    return FakeView(config, store, _registry(config, current, _probes()), current, last)


@pytest.fixture
async def client(view: FakeView) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(view, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as c:
        yield c


@pytest.fixture
def openapi() -> dict[str, Any]:
    return openapi_document("test")


def _conforms(openapi: dict[str, Any], schema: str, body: Any) -> None:
    """Raise unless ``body`` is valid against the document's component ``schema``."""
    validate_instance(
        body,
        {"$ref": f"#/components/schemas/{schema}", "components": openapi["components"]},
        cls=OAS31Validator,
    )


# --- health ------------------------------------------------------------------------------------


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_200_without_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "problems": []})


async def test_readyz_is_503_listing_the_problems(
    client: httpx.AsyncClient, view: FakeView
) -> None:
    view.issues = ["scheduler: not running", "store: database is locked"]
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "problems": view.issues}


# --- endpoints and models ----------------------------------------------------------------------


async def test_endpoints_lists_each_endpoint_with_its_last_probe_and_state(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/endpoints")
    assert response.status_code == 200
    body = response.json()
    _conforms(openapi, "EndpointList", body)
    by_id = {e["id"]: e for e in body["endpoints"]}
    assert list(by_id) == ["openai", "azure-eastus", "gateway"]
    azure = by_id["azure-eastus"]
    assert (azure["provider"], azure["region"], azure["deployment"], azure["api_version"]) == (
        "azure", "eastus", "nano", "2024-10-21",
    )  # fmt: skip
    assert (azure["interval_seconds"], azure["timeout_seconds"]) == (60.0, 5.0)
    assert azure["last_probe"]["outcome"] == "timeout"
    assert azure["last_probe"]["started_at"] == "2025-06-01T12:10:00.000000Z"
    # No end of stream, but how long the probe ran before it was given up.
    assert (azure["last_probe"]["total_seconds"], azure["last_probe"]["duration_seconds"]) == (
        None, 5.0,
    )  # fmt: skip
    assert azure["last_window"]["uptime_ratio"] == pytest.approx(0.75)
    # The last probes are 20+ minutes old (fresh means within 3 intervals): the window speaks.
    assert by_id["openai"]["state"] == "up"
    assert azure["state"] == "degraded"
    assert by_id["gateway"]["state"] == "unknown"
    assert by_id["gateway"]["last_probe"] is None


@pytest.mark.parametrize(
    ("window_outcomes", "last_outcome", "state"),
    [
        ([], None, "unknown"),
        ([Outcome.SUCCESS], None, "up"),
        ([Outcome.SUCCESS, Outcome.TIMEOUT], None, "degraded"),
        ([Outcome.TIMEOUT], None, "down"),
        ([], Outcome.SUCCESS, "up"),
        ([], Outcome.SERVER_ERROR, "down"),
        ([], Outcome.AUTH_ERROR, "unknown"),  # our configuration, not the provider
        ([Outcome.SUCCESS], Outcome.SERVER_ERROR, "degraded"),  # just failed
        ([Outcome.TIMEOUT], Outcome.SUCCESS, "degraded"),  # recovering
        ([Outcome.TIMEOUT], Outcome.TIMEOUT, "down"),
        ([Outcome.SUCCESS], Outcome.SUCCESS, "up"),
    ],
)
def test_endpoint_state_combines_the_last_window_and_a_fresh_last_probe(
    window_outcomes: list[Outcome], last_outcome: Outcome | None, state: str
) -> None:
    rollup: EndpointRollup | None = None
    if window_outcomes:
        rows = [_row(o) for o in window_outcomes]
        rollup = compute_rollup(EndpointIdentity("e", "m", "openai", None), rows, W, 1800)
    last = None
    if last_outcome is not None:
        last = bare_probe(endpoint="e", outcome=last_outcome,
                          started_at=NOW - timedelta(seconds=10))  # fmt: skip
    assert endpoint_state(rollup, last, now=NOW, interval=60.0) == state


def test_endpoint_state_ignores_a_stale_last_probe() -> None:
    stale = bare_probe(endpoint="e", outcome=Outcome.SUCCESS, started_at=NOW - timedelta(hours=3))
    assert endpoint_state(None, stale, now=NOW, interval=60.0) == "unknown"


def _row(outcome: Outcome) -> ProbeRow:
    ok = outcome is Outcome.SUCCESS
    return ProbeRow("e", outcome, 0.5 if ok else None, 100.0 if ok else None, 1.0, 10, 5, 0.0)


async def test_models_lists_facts_endpoints_and_a_working_profile_link(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/models")
    assert response.status_code == 200
    body = response.json()
    _conforms(openapi, "ModelList", body)
    nano, other = body["models"]
    assert nano["id"] == "gpt-4.1-nano"
    assert nano["pricing"] == {
        "input_per_million": 0.10, "output_per_million": 0.40, "cached_input_per_million": None,
    }  # fmt: skip
    assert (nano["context_window"], nano["release_date"]) == (1047576, "2025-04-14")
    assert nano["endpoints"] == ["openai", "azure-eastus"]
    assert other["endpoints"] == ["gateway"]
    followed = await client.get(nano["profile_url"])
    assert followed.status_code == 200
    assert followed.json()["id"] == "gpt-4.1-nano"


# --- the profile -------------------------------------------------------------------------------


async def test_profile_has_the_design_fields_and_the_live_numbers(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/models/gpt-4.1-nano/profile")
    assert response.status_code == 200
    profile = response.json()
    _conforms(openapi, "Profile", profile)
    assert (profile["id"], profile["name"], profile["max_output_tokens"]) == (
        "gpt-4.1-nano", "OpenAI: GPT-4.1 Nano", 32768,
    )  # fmt: skip
    assert profile["metadata"] == {"mmlu": 0.801}
    live = profile["live"]
    assert set(live) == PROFILE_LIVE_FIELDS
    assert (live["window_start"], live["window_end"]) == (
        "2025-06-01T12:00:00.000000Z", "2025-06-01T12:30:00.000000Z",
    )  # fmt: skip
    assert live["refreshed_at"] == "2025-06-01T12:31:00.000000Z"
    assert live["best_ttft_seconds"] == pytest.approx(0.35)
    assert live["best_output_tokens_per_second"] == pytest.approx(160.0)
    assert live["avg_uptime_ratio"] == pytest.approx((1.0 + 0.75) / 2)
    assert (live["active_endpoints"], live["total_endpoints"]) == (2, 2)
    assert live["available_via"] == ["OpenAI", "Azure"]
    openai, azure = live["endpoints"]
    assert set(openai) == PROFILE_ENDPOINT_FIELDS
    assert (azure["endpoint"], azure["provider"], azure["region"]) == (
        "azure-eastus", "azure", "eastus",
    )  # fmt: skip
    assert azure["ttft_p50_seconds"] == pytest.approx(0.35)
    assert azure["ttft_p95_seconds"] == pytest.approx(0.395)
    assert azure["output_tokens_per_second_p50"] == pytest.approx(160.0)
    assert (azure["probes"], azure["failures_by_outcome"]) == (4, {"timeout": 1})
    assert azure["last_probe_at"] == "2025-06-01T12:10:00.000000Z"
    assert (openai["status"], azure["status"]) == ("up", "degraded")


async def test_profile_of_an_unknown_model_is_a_404_naming_the_known_ones(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/models/gpt-5/profile")
    assert response.status_code == 404
    body = response.json()
    _conforms(openapi, "Error", body)
    assert body == {
        "error": {
            "code": "not_found",
            "message": "unknown model 'gpt-5'; known: gpt-4.1-nano, other-model",
        }
    }


async def test_profile_before_the_first_rollup_has_null_live_numbers(
    client: httpx.AsyncClient, view: FakeView, openapi: dict[str, Any]
) -> None:
    view.current = None
    response = await client.get("/api/v1/models/gpt-4.1-nano/profile")
    assert response.status_code == 200
    profile = response.json()
    _conforms(openapi, "Profile", profile)
    live = profile["live"]
    assert set(live) == PROFILE_LIVE_FIELDS
    for name in ("window_start", "window_end", "refreshed_at", "avg_uptime_ratio",
                 "best_ttft_seconds", "best_output_tokens_per_second"):  # fmt: skip
        assert live[name] is None, name
    assert (live["active_endpoints"], live["total_endpoints"]) == (0, 2)
    assert [e["status"] for e in live["endpoints"]] == ["unknown", "unknown"]
    assert all(e["uptime_ratio"] is None for e in live["endpoints"])


# --- rollups -----------------------------------------------------------------------------------


async def test_rollups_default_to_the_last_24_hours_oldest_first(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/rollups")
    assert response.status_code == 200
    body = response.json()
    _conforms(openapi, "RollupList", body)
    assert (body["since"], body["until"]) == (
        "2025-05-31T12:31:00.000000Z", "2025-06-01T12:31:00.000000Z",
    )  # fmt: skip
    assert (body["window_seconds"], body["count"], body["truncated"]) == (1800, 3, False)
    # Only (endpoint, window) pairs with a stored probe: the gateway never answered, azure had
    # no probe at 11:30.
    assert [(r["window_start"][11:16], r["endpoint"]) for r in body["rollups"]] == [
        ("11:30", "openai"), ("12:00", "azure-eastus"), ("12:00", "openai"),
    ]  # fmt: skip
    azure = body["rollups"][1]
    assert azure["ttft_seconds"]["p50"] == pytest.approx(0.35)
    assert azure["outcomes"] == {"success": 3, "timeout": 1}
    assert azure["uptime_ratio"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"model": "gpt-4.1-nano", "since": "45m"},
            [("12:00", "azure-eastus"), ("12:00", "openai")],
        ),
        ({"model": "other-model"}, []),  # its one endpoint has no probe: no data, no rollup
        ({"endpoint": "openai", "since": "2025-06-01T12:00:00Z"}, [("12:00", "openai")]),
        ({"endpoint": "openai", "until": "2025-06-01T14:00+02:00"}, [("11:30", "openai")]),
        ({"endpoint": "openai", "since": "45m"}, [("12:00", "openai")]),
        ({"endpoint": "openai", "window": "30m"}, [("11:30", "openai"), ("12:00", "openai")]),
        ({"model": "other-model", "endpoint": "openai"}, []),
    ],
)
async def test_rollups_filter_by_model_endpoint_and_time(
    client: httpx.AsyncClient, query: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    response = await client.get("/api/v1/rollups", params=query)
    assert response.status_code == 200
    rows = response.json()["rollups"]
    assert [(r["window_start"][11:16], r["endpoint"]) for r in rows] == expected


@pytest.mark.parametrize(
    ("query", "parameter", "status"),
    [
        ({"model": "nope"}, "model", 404),
        ({"endpoint": "nope"}, "endpoint", 404),
        ({"since": "yesterday"}, "since", 422),
        ({"until": "2025-06-01T12:00:00"}, "until", 422),
        ({"since": "2025-06-01T12:00:00"}, "since", 422),
        ({"window": "fast"}, "window", 422),
        ({"window": "0"}, "window", 422),
        ({"window": "90s "}, "window", 422),
        ({"window": ""}, "window", 422),
        ({"since": ""}, "since", 422),
        ({"window": "15m"}, "window", 404),  # well-formed, but neither configured nor stored
        ({"window": "99999d"}, "window", 404),
    ],
)
async def test_rollups_refuse_bad_parameters_with_json_naming_them(
    client: httpx.AsyncClient,
    openapi: dict[str, Any],
    query: dict[str, str],
    parameter: str,
    status: int,
) -> None:
    response = await client.get("/api/v1/rollups", params=query)
    assert response.status_code == status
    body = response.json()
    _conforms(openapi, "Error", body)
    assert body["error"]["parameter"] == parameter
    assert body["error"]["code"] == ("not_found" if status == 404 else "invalid_parameter")
    assert body["error"]["message"]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "1h", "until": "2h"},  # since after until, as `report` refuses it
        {"since": "2025-06-01T12:00:00Z", "until": "2025-06-01T12:00:00Z"},
        {"since": "2025-06-02"},  # after the default until, now
    ],
    ids=["inverted", "empty", "since-after-now"],
)
async def test_rollups_refuse_a_range_whose_since_is_not_before_until(
    client: httpx.AsyncClient, openapi: dict[str, Any], query: dict[str, str]
) -> None:
    response = await client.get("/api/v1/rollups", params=query)

    assert response.status_code == 422
    body = response.json()
    _conforms(openapi, "Error", body)
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["parameter"] == "since"
    assert "is not before until" in body["error"]["message"]


async def test_rollups_reach_back_to_the_first_moment_in_few_queries(
    client: httpx.AsyncClient, view: FakeView
) -> None:
    recording = ThreadRecordingStore(view.store)
    view.store = recording
    response = await client.get("/api/v1/rollups", params={"since": "0001-01-01"})
    assert response.status_code == 200
    assert response.json()["since"] == "0001-01-01T00:00:00.000000Z"  # four-digit year
    assert response.json()["count"] == 3
    # Empty slices double: two thousand years of 30-minute windows take a few dozen reads.
    assert sum(name == "rollups" for name, _ in recording.threads) < 40


async def test_rollups_are_capped_and_page_on_window_boundaries(view: FakeView) -> None:
    app = create_app(view, clock=lambda: NOW, max_rollup_rows=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = (await client.get("/api/v1/rollups")).json()
        second_page = await client.get("/api/v1/rollups", params={"since": first["next_since"]})
    # 1 row at 11:30, 2 at 12:00: a page of 2 would split the second window, so it stops at 1.
    assert (first["count"], first["limit"], first["truncated"]) == (1, 2, True)
    assert first["next_since"] == "2025-06-01T12:00:00.000000Z"
    second = second_page.json()
    assert (second["count"], second["truncated"], second["next_since"]) == (2, False, None)
    seen = [(r["window_start"], r["endpoint"]) for r in first["rollups"] + second["rollups"]]
    assert len(seen) == len(set(seen)) == 3


async def test_rollups_answer_503_json_when_the_store_fails(
    client: httpx.AsyncClient, store: Store, openapi: dict[str, Any]
) -> None:
    store.close()
    response = await client.get("/api/v1/rollups")
    assert response.status_code == 503
    body = response.json()
    _conforms(openapi, "Error", body)
    assert body["error"]["code"] == "store_unavailable"


# --- the report --------------------------------------------------------------------------------


async def test_latest_report_is_the_last_complete_window(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.get("/api/v1/reports/latest")
    assert response.status_code == 200
    report = response.json()
    _conforms(openapi, "Report", report)
    assert (report["since"], report["until"]) == (
        "2025-06-01T12:00:00.000000Z", "2025-06-01T12:30:00.000000Z",
    )  # fmt: skip
    nano = report["models"][0]
    assert [e["endpoint"] for e in nano["endpoints"]] == ["openai", "azure-eastus"]
    assert nano["endpoints"][0]["ttft_p50_seconds"] == pytest.approx(0.55)
    assert nano["card"].startswith("87.5% avg uptime · 350 ms best TTFT")


async def test_latest_report_names_endpoints_without_probes_as_no_data(
    client: httpx.AsyncClient,
) -> None:
    report = (await client.get("/api/v1/reports/latest")).json()
    other = report["models"][1]
    assert (other["endpoints"], other["no_data"]) == ([], ["gateway"])
    assert report["models"][0]["no_data"] == []
    (window,) = report["windows"]
    assert [r["endpoint"] for r in window["endpoints"]] == ["openai", "azure-eastus"]
    assert window["no_data"] == ["gateway"]


# --- windows before the monitor started --------------------------------------------------------

STARTED = datetime(2026, 11, 25, 18, 19, 10, tzinfo=UTC)  # a new store, a 1-minute window


async def test_windows_before_the_monitor_started_have_no_rollups(
    tmp_path: Path, openapi: dict[str, Any]
) -> None:
    config = parse_config(
        yaml.safe_dump({**CONFIG, "rollup": {"window": "60s"}}), environ={"CANARY_KEY": CANARY}
    )
    opened = open_store(f"sqlite:///{tmp_path}/new.db")
    opened.upgrade()
    now = STARTED
    aggregator = Aggregator(config, opened, publish=lambda _: None, clock=lambda: now)
    aggregator.backfill()  # the daemon's start-up: the last two windows are 18:17 and 18:18
    probes = [_ok("openai", STARTED + timedelta(seconds=s), 0.5, 100) for s in (10, 40, 70)]
    opened.add_probes(probes)
    aggregator.mark_written(probes)
    now = STARTED + timedelta(minutes=2)  # 18:21:10: 18:20 is complete
    aggregator.tick()
    view = FakeView(config, opened, CollectorRegistry(), aggregator.latest)
    app = create_app(view, clock=lambda: now)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://monitor"
    ) as c:
        rollups = (await c.get("/api/v1/rollups", params={"since": "1h"})).json()
        report = (await c.get("/api/v1/reports/latest")).json()
        profile = (await c.get("/api/v1/models/gpt-4.1-nano/profile")).json()
    opened.close()

    _conforms(openapi, "RollupList", rollups)
    assert [(r["window_start"][11:16], r["endpoint"], r["probes"]) for r in rollups["rollups"]] == [
        ("18:19", "openai", 2), ("18:20", "openai", 1),
    ]  # fmt: skip
    _conforms(openapi, "Report", report)
    nano, other = report["models"]
    assert [(e["endpoint"], e["probes"]) for e in nano["endpoints"]] == [("openai", 1)]
    assert (nano["no_data"], other["no_data"]) == (["azure-eastus"], ["gateway"])
    assert [w["no_data"] for w in report["windows"]] == [["azure-eastus", "gateway"]]
    azure = next(e for e in profile["live"]["endpoints"] if e["endpoint"] == "azure-eastus")
    assert (azure["probes"], azure["status"], azure["uptime_ratio"]) == (None, "unknown", None)
    assert profile["live"]["window_start"] == "2026-11-25T18:20:00.000000Z"


# --- store access stays off the event loop -----------------------------------------------------


async def test_store_is_only_read_from_worker_threads(view: FakeView) -> None:
    recording = ThreadRecordingStore(view.store)
    view.store = recording  # a proxy: its __getattr__ gives every Store method
    app = create_app(view, clock=lambda: NOW)
    loop_thread = threading.get_ident()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://monitor"
    ) as c:
        for path in ("/api/v1/rollups", "/api/v1/reports/latest", "/api/v1/endpoints",
                     "/api/v1/models/gpt-4.1-nano/profile"):  # fmt: skip
            assert (await c.get(path)).status_code == 200
    called = {name for name, _ in recording.threads}
    assert {"rollups", "probe_rows"} <= called
    assert all(thread != loop_thread for _, thread in recording.threads)


class _ThreadNotingCollector(Collector):
    def __init__(self) -> None:
        self.threads: list[int] = []

    def collect(self) -> list[Metric]:
        self.threads.append(threading.get_ident())
        return [GaugeMetricFamily("llm_monitor_test_gauge", "A test gauge.", value=1)]


# --- metrics -----------------------------------------------------------------------------------


async def test_metrics_parse_as_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    probes = families["llm_monitor_probes"]
    timeouts = [s for s in probes.samples
                if s.labels.get("endpoint") == "azure-eastus"
                and s.labels.get("outcome") == "timeout" and s.name.endswith("_total")]  # fmt: skip
    assert [s.value for s in timeouts] == [1.0]
    best = families["llm_monitor_model_best_time_to_first_token_seconds"]
    assert [s.value for s in best.samples if s.labels["model"] == "gpt-4.1-nano"] == [
        pytest.approx(0.35)
    ]


async def test_metrics_speak_openmetrics_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_metrics_are_rendered_on_a_worker_thread(view: FakeView) -> None:
    noting = _ThreadNotingCollector()
    view.registry.register(noting)
    app = create_app(view, clock=lambda: NOW)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://monitor"
    ) as c:
        assert (await c.get("/metrics")).status_code == 200
    assert noting.threads
    assert threading.get_ident() not in noting.threads


# --- errors and the OpenAPI document -----------------------------------------------------------


async def test_unknown_route_is_a_404_json_error(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.get("/api/v2/nothing")
    assert response.status_code == 404
    _conforms(openapi, "Error", response.json())
    assert response.json()["error"]["code"] == "not_found"


async def test_wrong_method_is_a_405_json_error_with_allow(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    response = await client.post("/api/v1/models", json={})
    assert response.status_code == 405
    _conforms(openapi, "Error", response.json())
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_openapi_document_is_valid_openapi_3_1(openapi: dict[str, Any]) -> None:
    validate_spec(openapi)
    assert openapi["openapi"] == "3.1.0"


async def test_openapi_document_describes_every_route(
    client: httpx.AsyncClient, view: FakeView
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate_spec(document)
    app: Starlette = create_app(view)
    # The web pages, badges and sign-in (monitor.web) are for people, not part of the API:
    # docs/pages.md describes them.
    routes = {
        r.path.replace("{model_id:str}", "{id}")
        for r in app.routes
        if isinstance(r, Route) and not r.endpoint.__module__.startswith("monitor.web.")
    }
    assert "/login" not in routes and "/" not in routes and "/api/v1/endpoints" in routes
    assert set(document["paths"]) == routes
    for path, item in document["paths"].items():
        assert set(item) == {"get"}, path
        assert "200" in item["get"]["responses"], path
    rollup_parameters = {
        p["name"] for p in document["paths"]["/api/v1/rollups"]["get"]["parameters"]
    }
    assert rollup_parameters == {"model", "endpoint", "since", "until", "window"}


# --- secrets -----------------------------------------------------------------------------------


async def test_no_response_ever_contains_an_api_key(client: httpx.AsyncClient) -> None:
    paths = [
        "/metrics", "/healthz", "/readyz", "/api/v1/endpoints", "/api/v1/models",
        "/api/v1/models/gpt-4.1-nano/profile", "/api/v1/models/other-model/profile",
        "/api/v1/models/nope/profile", "/api/v1/rollups", "/api/v1/rollups?since=bad",
        "/api/v1/rollups?endpoint=nope", "/api/v1/reports/latest", "/openapi.json", "/nope",
    ]  # fmt: skip
    for path in paths:
        response = await client.get(path)
        assert CANARY not in response.text, path
        assert CANARY[:12] not in response.text, path
        assert all(CANARY not in value for value in response.headers.values()), path


# --- over a real socket ------------------------------------------------------------------------


async def test_app_serves_over_a_real_socket(view: FakeView) -> None:
    async with (
        served(create_app(view, clock=lambda: NOW)) as url,
        httpx.AsyncClient(base_url=url) as c,
    ):
        health = await c.get("/healthz")
        profile = await c.get("/api/v1/models/gpt-4.1-nano/profile")
        missing = await c.get("/api/v1/models/nope/profile")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert profile.json()["live"]["best_ttft_seconds"] == pytest.approx(0.35)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
