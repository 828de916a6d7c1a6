"""The fast exposition writes exactly what prometheus_client writes, in both formats."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.exposition import choose_encoder

from monitor import metrics as metrics_module
from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.profile import model_live
from monitor.core.rollup import EndpointIdentity, ProbeRow, compute_rollup
from monitor.metrics import LiveCollector, LiveState, ProbeMetrics, exposition
from monitor.service.daemon import Daemon
from tests.store.factories import bare_probe, make_probe

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
#: What Prometheus 2.x and 3.x send.
PROMETHEUS = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
ACCEPTS = ["", "text/plain", "*/*", OPENMETRICS, PROMETHEUS, "application/openmetrics-text"]


def _config() -> Config:
    raw = {
        "models": [{"id": "gpt-4.1-nano", "name": 'Nano "quoted" \\ back\nslash',
                    "pricing": {"input_per_million": 0.1, "output_per_million": 0.4}}],
        "endpoints": [
            {"id": "openai", "model": "gpt-4.1-nano", "provider": "openai",
             "base_url": "https://api.openai.com/v1", "api_key_env": "K"},
            {"id": "azure-eastus", "model": "gpt-4.1-nano", "provider": "azure",
             "base_url": "https://x.openai.azure.com", "deployment": "nano",
             "region": "eastus", "api_key_env": "K"},
        ],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": "secret-key-123456"})


def _registry() -> CollectorRegistry:
    config = _config()
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.declare_endpoints(config.endpoints)
    for n, seconds in enumerate([0.05, 0.3, 1.7, 1e-7, 123456789.0]):
        metrics.observe(
            make_probe(endpoint="openai", provider="openai", ttft_seconds=seconds,
                       output_tokens_per_second=100.0 + n, started_at=T0 + timedelta(seconds=n))
        )  # fmt: skip
    metrics.observe(bare_probe(endpoint="azure-eastus", provider="azure", started_at=T0))
    metrics.observe(bare_probe(endpoint="azure-eastus", provider="azure",
                               outcome=Outcome.CANCELLED, started_at=T0))  # fmt: skip
    metrics.missed_runs.labels("openai").inc(3)
    metrics.loop_lag.set(0.0123)
    metrics.storage_errors.inc()
    rows = [ProbeRow("openai", Outcome.SUCCESS, 0.3, 100.0, 0.7, 40, 20, 0.00002)] * 3
    rollup = compute_rollup(
        EndpointIdentity("openai", "gpt-4.1-nano", "openai", None), rows, T0, 1800
    )
    live = LiveCollector()
    profiles = tuple(
        model_live(
            model,
            config.endpoints,
            [rollup],
            last_window_start=T0,
            uptime_since=T0,
            refreshed_at=T0,
            last_probe_at={},
        )
        for model in config.models
    )
    live.publish(LiveState((rollup,), config.models, profiles))
    registry.register(live)
    # Metric objects of other kinds and label values that need escaping.
    odd = Counter("odd_things", 'Help with "quotes", \\ and\nnewline.', ["path"],
                  registry=registry)  # fmt: skip
    odd.labels('a"b\\c\nd').inc(2.5)
    Gauge("plain_gauge", "No labels.", registry=registry).set(float("inf"))
    Gauge("callback_gauge", "From a function.", registry=registry).set_function(lambda: 7.0)
    Histogram("plain_seconds", "No labels.", registry=registry).observe(0.2)
    Counter("unit_bytes", "With a unit.", unit="bytes", registry=registry).inc()
    return registry


@pytest.mark.parametrize("created", [False, True], ids=["no-created", "created"])
@pytest.mark.parametrize("accept", ACCEPTS)
def test_exposition_is_byte_for_byte_prometheus_clients(
    accept: str, created: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry()
    # The daemon turns `_created` series off; the exposition must match both settings.
    monkeypatch.setattr(prometheus_metrics, "_use_created", created)
    encoder, content_type = choose_encoder(accept)
    body, fast_type = exposition(registry, accept)
    assert fast_type == content_type
    assert body.decode() == encoder(registry).decode()


def test_the_daemons_registry_serves_no_created_series() -> None:
    registry = _registry()
    for accept in ACCEPTS:
        body = exposition(registry, accept)[0].decode()
        assert "llm_monitor_probes_total{" in body
        assert "_created" not in body


def test_exposition_follows_series_added_and_removed_between_scrapes() -> None:
    config = _config()
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.declare_endpoints(config.endpoints)
    exposition(registry)
    metrics.observe(make_probe(endpoint="openai", provider="openai", started_at=T0))
    metrics.forget_endpoint(config.endpoints[1])
    encoder, _type = choose_encoder("")
    assert exposition(registry)[0] == encoder(registry)


def test_exposition_leaves_escaping_schemes_to_prometheus_client() -> None:
    registry = _registry()
    accept = "text/plain; version=1.0.0; escaping=allow-utf-8"
    encoder, content_type = choose_encoder(accept)
    assert exposition(registry, accept) == (encoder(registry), content_type)


def test_window_families_follow_each_published_window() -> None:
    # The window and model families are rendered once per published state: a new window
    # must show at the next scrape, in both formats.
    registry = _registry()
    live = next(c for c in registry._collector_to_names if isinstance(c, LiveCollector))
    for accept in ACCEPTS:
        exposition(registry, accept)
    config = _config()
    rows = [ProbeRow("openai", Outcome.SUCCESS, 0.9, 50.0, 1.5, 40, 20, 0.00002)] * 5
    later = compute_rollup(
        EndpointIdentity("openai", "gpt-4.1-nano", "openai", None),
        rows,
        T0 + timedelta(seconds=1800),
        1800,
    )
    live.publish(LiveState((later,), config.models, ()))
    for accept in ACCEPTS:
        encoder, _type = choose_encoder(accept)
        body = exposition(registry, accept)[0]
        assert body == encoder(registry)
        assert b'llm_monitor_window_probes{endpoint="openai",model="gpt-4.1-nano"' in body
        assert b"} 5.0\n" in body


HISTOGRAMS = (
    "llm_monitor_time_to_first_token_seconds",
    "llm_monitor_output_tokens_per_second",
    "llm_monitor_request_duration_seconds",
    "llm_monitor_connect_seconds",
)


def test_declared_endpoints_have_empty_histograms_and_no_last_probe_gauges() -> None:
    config = _config()
    registry = CollectorRegistry()
    ProbeMetrics(registry).declare_endpoints(config.endpoints)
    body = exposition(registry)[0].decode()
    for endpoint in config.endpoints:
        model = 'model="gpt-4.1-nano"'
        provider = f'provider="{endpoint.provider}"'
        labels = f'endpoint="{endpoint.id}",{model},{provider}'
        for name in HISTOGRAMS:
            assert f"{name}_count{{{labels}}} 0.0\n" in body
            assert (
                f'{name}_bucket{{endpoint="{endpoint.id}",le="+Inf",{model},{provider}}} 0.0\n'
                in body
            )
    # A last-probe gauge at 0 would say the endpoint failed, or last answered in 1970.
    assert "llm_monitor_probe_success{" not in body
    assert "llm_monitor_last_probe_timestamp_seconds{" not in body


def test_a_started_daemon_has_frozen_its_endpoints_metric_series(tmp_path: Path) -> None:
    # Frozen objects are left out of the collector's full scans (gc.get_objects() does not
    # list them): the series of every endpoint must be among them before the first probe.
    raw = {
        "models": [{"id": "m"}],
        "endpoints": [
            {"id": f"e{n}", "model": "m", "provider": "openai", "api_key_env": "K",
             "base_url": "http://127.0.0.1:9/v1", "interval": "1h"}
            for n in range(3)
        ],
        "storage": {"url": f"sqlite:///{tmp_path / 'm.db'}"},
    }  # fmt: skip
    config = parse_config(yaml.safe_dump(raw), environ={"K": "secret-key-123456"})
    daemon = Daemon(config)
    daemon.start()
    try:
        children = [
            histogram.labels(endpoint.id, "openai", "m")
            for endpoint in config.endpoints
            for histogram in (daemon.metrics.ttft, daemon.metrics.duration)
        ]
        values = [bucket for child in children for bucket in child._buckets]
        # ... and so must the text the exposition keeps for each series.
        texts = [
            series
            for histogram in (daemon.metrics.ttft, daemon.metrics.duration)
            for series in metrics_module._cache_of(histogram).series.values()
        ]
        assert len(texts) == len(children)
        tracked = {id(obj) for obj in gc.get_objects()}
        assert children and not any(id(obj) in tracked for obj in [*children, *values, *texts])
    finally:
        daemon.stop()
        gc.unfreeze()


def test_skipped_runs_are_declared_and_forgotten_for_every_reason() -> None:
    config = _config()
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.declare_endpoints(config.endpoints)
    declared = {
        (s.labels["endpoint"], s.labels["reason"])
        for family in registry.collect()
        if family.name == "llm_monitor_probes_skipped"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert declared == {
        (e.id, reason) for e in config.endpoints for reason in ("retry_after", "backoff")
    }
    metrics.skipped.labels(config.endpoints[1].id, "backoff").inc()
    metrics.forget_endpoint(config.endpoints[1])
    for reason in ("retry_after", "backoff"):
        labels = {"endpoint": config.endpoints[1].id, "reason": reason}
        assert registry.get_sample_value("llm_monitor_probes_skipped_total", labels) is None
