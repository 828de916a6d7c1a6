"""/metrics: the daemon's families, written byte for byte as prometheus_client writes them.

Three references:

- prometheus_client's own Counter/Gauge/Histogram (public API, ``_created`` series off as the
  daemon has them) given the same operations as the monitor's families, in random order, with
  label values and numbers that need escaping or special spelling;
- prometheus_client's writers (``generate_latest``, OpenMetrics' ``generate_latest``) given the
  registry's ``collect()``;
- ``tests/golden/metrics*.txt`` (text format, OpenMetrics, and OpenMetrics with names escaped
  by the "dots" scheme): what ``/metrics`` served for ``daemon_state`` before the monitor wrote
  its exposition itself (with prometheus_client 0.26's metric objects). Only a deliberate change
  of a metric's name, help text or labels may change them; then write them again from
  ``daemon_state`` (``VERSION`` stands for the build version).
"""

from __future__ import annotations

import ast
import contextlib
import gc
import math
import random
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import (
    CollectorRegistry,
    disable_created_metrics,
    enable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.profile import model_live
from monitor.core.rollup import EndpointIdentity, ProbeRow, compute_rollup
from monitor.metrics import (
    CounterFamily,
    GaugeFamily,
    HistogramFamily,
    LiveCollector,
    LiveState,
    MetricsRegistry,
    ProbeMetrics,
    exposition,
)
from monitor.metrics.families import PART_SERIES
from monitor.metrics.names import CONNECT_BUCKETS, LATENCY_BUCKETS, Spec
from monitor.metrics.registry import CHUNK_CHARS
from monitor.service.daemon import Daemon
from tests.store.factories import bare_probe, make_probe

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
#: What Prometheus 2.x and 3.x send.
PROMETHEUS = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
#: Every kind of Accept header prometheus_client's negotiation tells apart.
ACCEPTS = [
    "", "text/plain", "*/*", "application/json", OPENMETRICS, PROMETHEUS,
    "application/openmetrics-text", "text/plain; version=0.0.4", "text/plain; version=1.0.0",
    "text/plain; version=1.0.0; escaping=underscores",
    "text/plain; version=1.0.0; escaping=allow-utf-8",
    "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
    "application/openmetrics-text; version=1.0.0; escaping=dots",
    "application/openmetrics-text; version=2.0.0",
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _no_created_series() -> Iterator[None]:
    # prometheus_client's reference metrics, like the daemon's, without `_created` series.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    yield
    enable_created_metrics()  # type: ignore[no-untyped-call]


def _config() -> Config:
    raw = {
        "models": [
            {"id": "gpt-4.1-nano", "name": 'Nano "quoted" \\ back\nslash ✓ 東京',
             "creator": "OpenAI", "release_date": "2025-04-14", "modality": "text",
             "context_window": 1047576, "max_output_tokens": 32768,
             "pricing": {"input_per_million": 0.1, "output_per_million": 0.4,
                         "cached_input_per_million": 0.025}},
            {"id": "gpt-4o-mini"},
        ],
        "endpoints": [
            {"id": "openai", "model": "gpt-4.1-nano", "provider": "openai",
             "base_url": "https://api.openai.com/v1", "api_key_env": "K",
             "kinds": [{"name": "long", "input_tokens": 10000}]},
            {"id": "azure-eastus", "model": "gpt-4.1-nano", "provider": "azure",
             "base_url": "https://x.openai.azure.com", "deployment": 'nano "1" \\ x',
             "region": "east\nus ✓", "api_key_env": "K"},
            {"id": "gone", "model": "gpt-4o-mini", "provider": "openai",
             "base_url": "https://api.openai.com/v1", "api_key_env": "K"},
        ],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": "secret-key-123456"})


def daemon_state(registry: Any) -> tuple[ProbeMetrics, LiveCollector]:
    """The daemon's families in ``registry`` after some probes, a removed endpoint and a
    published window (the state of the golden files)."""
    config = _config()
    metrics = ProbeMetrics(registry, agent="agent-1", location="local")
    metrics.declare_endpoints(config.endpoints)
    for n, seconds in enumerate([0.05, 0.3, 1.7, 1e-7, 123456789.0]):
        metrics.observe(
            make_probe(endpoint="openai", provider="openai", ttft_seconds=seconds,
                       output_tokens_per_second=100.0 + n, started_at=T0 + timedelta(seconds=n))
        )  # fmt: skip
    metrics.observe(
        make_probe(endpoint="openai", provider="openai", kind="long", ttft_seconds=2.2,
                   input_tokens=10_012, started_at=T0)
    )  # fmt: skip
    metrics.observe(bare_probe(endpoint="azure-eastus", provider="azure", started_at=T0))
    metrics.observe(bare_probe(endpoint="azure-eastus", provider="azure",
                               outcome=Outcome.CANCELLED, started_at=T0))  # fmt: skip
    metrics.observe(make_probe(endpoint="gone", provider="openai", model="gpt-4o-mini"))
    metrics.forget_endpoint(config.endpoints[2])
    metrics.missed_runs.labels("openai").inc(3)
    metrics.skipped.labels("azure-eastus", "backoff").inc()
    metrics.loop_lag.set(0.0123)
    metrics.storage_errors.inc()
    metrics.scheduling_delay.observe(0.003)
    metrics.scheduling_delay.observe(42.0)
    metrics.config_reload_success.set(0)
    metrics.rollup_leader.set(1)
    metrics.set_clock_offset(-0.0125)
    rows = [ProbeRow("openai", Outcome.SUCCESS, 0.3, 100.0, 0.7, 40, 20, 0.00002)] * 3
    rollups = (
        compute_rollup(EndpointIdentity("openai", "gpt-4.1-nano", "openai", None), rows, T0, 1800),
        compute_rollup(
            EndpointIdentity("azure-eastus", "gpt-4.1-nano", "azure", "east\nus ✓"),
            [ProbeRow("azure-eastus", Outcome.TIMEOUT, None, None, 30.0, None, 20, None)],
            T0,
            1800,
        ),
    )
    profiles = tuple(
        model_live(model, config.endpoints, rollups, last_window_start=T0, uptime_since=T0,
                   refreshed_at=T0, last_probe_at={})
        for model in config.models
    )  # fmt: skip
    live = LiveCollector()
    incidents = (("openai", "openai", "gpt-4.1-nano", True),
                 ("azure-eastus", "azure", "gpt-4.1-nano", False))  # fmt: skip
    live.publish(LiveState(rollups, config.models, profiles, incidents))
    registry.register(live)
    return metrics, live


def _golden(content_type: str) -> bytes:
    name = "metrics.openmetrics.txt" if "openmetrics" in content_type else "metrics.txt"
    if "escaping=dots" in content_type:  # names escaped: "_" is "__"
        name = "metrics.openmetrics.dots.txt"
    text = (GOLDEN / name).read_text(encoding="utf-8")
    return text.replace('version="VERSION"', f'version="{__version__}"').encode()


@pytest.mark.parametrize("accept", ACCEPTS)
def test_metrics_are_what_they_were_for_the_same_state(accept: str) -> None:
    registry = MetricsRegistry()
    daemon_state(registry)
    encoder, content_type = choose_encoder(accept)
    body, served_type = exposition(registry, accept)
    assert served_type == content_type
    assert body.decode() == _golden(content_type).decode()
    # prometheus_client's writer, given the same families from collect(), writes the same.
    assert body == encoder(registry)


def test_a_prometheus_client_registry_serves_the_same_metrics() -> None:
    # The families can also be registered in prometheus_client's CollectorRegistry, which
    # prometheus_client then writes.
    ours, theirs = MetricsRegistry(), CollectorRegistry()
    daemon_state(ours)
    daemon_state(theirs)
    for accept in ACCEPTS:
        assert exposition(theirs, accept) == exposition(ours, accept)


def test_an_empty_registry_serves_an_empty_exposition() -> None:
    for accept in ACCEPTS:
        encoder, _type = choose_encoder(accept)
        assert exposition(MetricsRegistry(), accept)[0] == encoder(CollectorRegistry())
    assert exposition(MetricsRegistry(), OPENMETRICS)[0] == b"# EOF\n"


# --- the families against prometheus_client's metric objects -----------------------------------

#: Families of every kind, with and without labels, label names on both sides of "le", and a
#: help text that needs escaping.
SPECS = (
    Spec("t_requests", 'Help with "quotes", \\ and\nnewline ✓.', "counter", ("endpoint", "zone")),
    Spec("t_errors", "No labels.", "counter"),
    Spec("t_level", "A gauge.", "gauge", ("a", "m")),
    Spec("t_lag_seconds", "No labels.", "gauge"),
    Spec("t_latency_seconds", "A histogram.", "histogram", ("endpoint", "zone"), LATENCY_BUCKETS),
    Spec("t_connect_seconds", "No labels.", "histogram", (), CONNECT_BUCKETS),
)
_REFERENCE = {
    "counter": prometheus_client.Counter,
    "gauge": prometheus_client.Gauge,
    "histogram": prometheus_client.Histogram,
}
_OURS: dict[str, type[CounterFamily | GaugeFamily | HistogramFamily]] = {
    "counter": CounterFamily,
    "gauge": GaugeFamily,
    "histogram": HistogramFamily,
}

label_values = st.sampled_from(["", "x", 'a"b', "c\\d", "e\nf", "✓ 東京", "\\n"]) | st.text(
    max_size=4
)
numbers = st.floats() | st.sampled_from([0.0, -0.0, 1e-7, 0.25, 12345678.0, 1e16, math.nan])
operations = st.lists(
    st.tuples(
        st.integers(0, len(SPECS) - 1),
        st.tuples(label_values, label_values),
        st.sampled_from(["update", "update", "update", "remove"]),
        numbers,
    ),
    max_size=40,
)


def _apply(ours: Any, reference: Any, spec: Spec, labels: tuple[str, str], action: str,
           value: float) -> None:  # fmt: skip
    values = labels[: len(spec.labels)]
    if action == "remove":
        if spec.labels:
            ours.remove(*values)
            with contextlib.suppress(KeyError):
                reference.remove(*values)
        return
    if spec.labels:
        ours, reference = ours.labels(*values), reference.labels(*values)
    if spec.kind == "counter":
        ours.inc(abs(value))
        reference.inc(abs(value))
    elif spec.kind == "gauge":
        ours.set(value)
        reference.set(value)
    else:
        ours.observe(value)
        reference.observe(value)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_families_write_what_prometheus_client_writes_for_the_same_operations(
    ops: list[tuple[int, tuple[str, str], str, float]],
) -> None:
    registry, reference = MetricsRegistry(), CollectorRegistry()
    pairs = []
    for spec in SPECS:
        family = _OURS[spec.kind](spec)
        registry.register(family)
        kwargs: dict[str, Any] = {"buckets": spec.buckets} if spec.buckets else {}
        twin = _REFERENCE[spec.kind](spec.name, spec.help, spec.labels, registry=reference,
                                     **kwargs)  # fmt: skip
        pairs.append((family, twin))
    # Scraped midway too: a scrape writes again the text it made for a value that has not
    # changed since, and must make it anew for one that has (-0.0 after 0.0 included).
    half = len(ops) // 2
    for done in (ops[:half], ops[half:]):
        for index, labels, action, value in done:
            _apply(*pairs[index], SPECS[index], labels, action, value)
        for accept in ACCEPTS:
            encoder, _type = choose_encoder(accept)
            assert exposition(registry, accept)[0].decode() == encoder(reference).decode()


def test_every_number_is_spelled_as_prometheus_client_spells_it() -> None:
    values = [0.0, -0.0, 1.0, -1.0, 1e-7, 2e-05, 0.1, 0.3, 1 / 3, 123456.0, 1234567.0,
              12345678.0, 123456789.5, 1e15, 9999999999999998.0, 1e16, 1.5e300, -12345678.0,
              5e-324, math.inf, -math.inf, math.nan]  # fmt: skip
    spec = Spec("t_value", "Values.", "gauge", ("n",))
    ours, reference = MetricsRegistry(), CollectorRegistry()
    family = GaugeFamily(spec)
    ours.register(family)
    twin = prometheus_client.Gauge(spec.name, spec.help, spec.labels, registry=reference)
    for n, value in enumerate(values):
        family.labels(str(n)).set(value)
        twin.labels(str(n)).set(value)
    assert exposition(ours)[0] == generate_latest(reference)
    assert exposition(ours, OPENMETRICS)[0] == openmetrics_latest(reference)  # type: ignore[no-untyped-call]


def test_a_large_exposition_is_written_in_chunks_that_together_are_prometheus_clients_text() -> (
    None
):
    ours, reference = MetricsRegistry(), CollectorRegistry()
    histogram = HistogramFamily(Spec("t_seconds", "Latency.", "histogram", ("endpoint",),
                                     LATENCY_BUCKETS))  # fmt: skip
    counter = CounterFamily(Spec("t_probes", "Probes.", "counter", ("endpoint", "outcome")))
    ours.register(histogram)
    ours.register(counter)
    twin_histogram = prometheus_client.Histogram(
        "t_seconds", "Latency.", ["endpoint"], buckets=LATENCY_BUCKETS, registry=reference
    )
    twin_counter = prometheus_client.Counter(
        "t_probes", "Probes.", ["endpoint", "outcome"], registry=reference
    )
    for n in range(3000):
        value = (n % 97) / 10
        histogram.labels(f"e{n}").observe(value)
        twin_histogram.labels(f"e{n}").observe(value)
        counter.labels(f"e{n}", "success").inc(n)
        twin_counter.labels(f"e{n}", "success").inc(n)
    for openmetrics, writer in ((False, generate_latest), (True, openmetrics_latest)):
        chunks = list(ours.chunks(openmetrics) or [])
        whole = writer(reference)
        assert b"".join(chunks) == whole
        assert len(chunks) >= 4
        assert max(map(len, chunks)) < len(whole) / 3
        assert all(chunk.endswith(b"\n") for chunk in chunks)  # whole lines only


def test_histogram_text_follows_its_counts_from_scrape_to_scrape() -> None:
    # A scrape looks a bucket line's end (bound, labels after "le", count) up by count: series
    # of several label sets after "le", with hundreds of different counts that grow between
    # scrapes, must read exactly what prometheus_client writes at every scrape.
    spec = Spec("t_latency_seconds", "Latency.", "histogram", ("endpoint", "zone"),
                LATENCY_BUCKETS)  # fmt: skip
    ours, reference = MetricsRegistry(), CollectorRegistry()
    family = HistogramFamily(spec)
    ours.register(family)
    twin = prometheus_client.Histogram(spec.name, spec.help, spec.labels,
                                       buckets=LATENCY_BUCKETS, registry=reference)  # fmt: skip
    rng = random.Random(7)
    for scrape in range(4):
        for n in range(300):
            labels = (f"e{n}", ("eu", "us", 'a"b')[n % 3])
            for _ in range(rng.randrange(0, 3 + n)):
                value = rng.choice([0.01, 0.3, 1.7, 9.0, 1e6, rng.expovariate(2.0)])
                family.labels(*labels).observe(value)
                twin.labels(*labels).observe(value)
        for openmetrics, writer in ((False, generate_latest), (True, openmetrics_latest)):
            assert b"".join(ours.chunks(openmetrics) or []) == writer(reference), scrape


def test_chunks_are_bounded_by_their_text_not_by_their_number_of_lines() -> None:
    # 20,000 counter lines of about 100 characters: 2 MB of text, which used to go out as one
    # chunk (it was cut every 32,768 lines, whatever their length).
    ours, reference = MetricsRegistry(), CollectorRegistry()
    labels = ("endpoint", "location", "model", "outcome", "provider")
    counter = CounterFamily(Spec("t_probes", "Probes.", "counter", labels))
    twin = prometheus_client.Counter("t_probes", "Probes.", labels, registry=reference)
    ours.register(counter)
    for n in range(20_000):
        values = (f"endpoint-{n:05d}", "eu-west", "gpt-4.1-nano", "success", "openai")
        counter.labels(*values).inc(n)
        twin.labels(*values).inc(n)
    chunks = list(ours.chunks(False) or [])
    assert b"".join(chunks) == generate_latest(reference)
    # A chunk is cut once it holds CHUNK_CHARS; the part that crossed it (PART_SERIES lines)
    # is all it may hold beyond that.
    assert max(map(len, chunks)) <= CHUNK_CHARS + PART_SERIES * 120
    assert len(chunks) >= 3


def test_series_of_one_family_count_exactly_when_threads_change_them_at_once() -> None:
    counter = CounterFamily(Spec("t_hits", "Hits.", "counter", ("endpoint",)))
    histogram = HistogramFamily(Spec("t_seconds", "Latency.", "histogram", ("endpoint",),
                                     LATENCY_BUCKETS))  # fmt: skip
    shared, own = counter.labels("shared"), [counter.labels(f"e{n}") for n in range(4)]
    latency = histogram.labels("shared")
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads handed the GIL as often as the interpreter can

    def work(n: int) -> None:
        for _ in range(20_000):
            shared.inc(0.5)
            own[n].inc()
            latency.observe(0.2)

    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(before)
    assert shared.value == 40_000.0
    assert [one.value for one in own] == [20_000.0] * 4
    counts, total = latency.read()
    assert sum(counts) == 80_000
    assert total == pytest.approx(16_000.0)


# --- registry behaviour -------------------------------------------------------------------------


class _Other:
    """A collector of another kind (prometheus_client's public family types)."""

    def collect(self) -> list[Metric]:
        return [GaugeMetricFamily("t_other", "Another collector.", value=2)]


def test_a_registry_with_another_collector_serves_it_too() -> None:
    ours, reference = MetricsRegistry(), CollectorRegistry()
    daemon_state(ours)
    daemon_state(reference)
    ours.register(_Other())
    reference.register(_Other())
    for accept in ACCEPTS:
        assert exposition(ours, accept) == exposition(reference, accept)
    assert b"\nt_other 2.0\n" in exposition(ours)[0]
    assert b"\nt_other 2.0\n# EOF\n" in exposition(ours, OPENMETRICS)[0]


def test_a_family_name_cannot_be_registered_twice() -> None:
    registry = MetricsRegistry()
    ProbeMetrics(registry)
    with pytest.raises(ValueError, match="llm_monitor_probes"):
        registry.register(CounterFamily(Spec("llm_monitor_probes", "Again.", "counter")))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (Spec("t-dash", "Bad name.", "gauge"), "not a valid Prometheus metric name"),
        (Spec("t_bad", "Label.", "gauge", ("a-b",)), "label name 'a-b'"),
        (Spec("t_bad", "Label.", "gauge", ("__x",)), "label name '__x'"),
        (Spec("t_bad", "le.", "histogram", ("le",), (1.0,)), "label name 'le'"),
        (Spec("t_bad", "Twice.", "gauge", ("a", "a")), "repeat"),
        (Spec("t_bad", "Order.", "histogram", (), (2.0, 1.0)), "buckets must be increasing"),
        (Spec("t_bad", "None.", "histogram", ()), "buckets must be increasing"),
        (Spec("t_bad", "Not one.", "gauge", (), (1.0,)), "only a histogram has buckets"),
    ],
)
def test_a_family_the_writer_cannot_write_is_refused(spec: Spec, message: str) -> None:
    family = {"gauge": GaugeFamily, "histogram": HistogramFamily}[spec.kind]
    with pytest.raises(ValueError, match=message):
        family(spec)


def test_label_values_must_match_the_label_names() -> None:
    family = CounterFamily(Spec("t_requests", "Requests.", "counter", ("endpoint", "zone")))
    with pytest.raises(ValueError, match=r"t_requests takes label values for \('endpoint', "):
        family.labels("only-one")
    with pytest.raises(ValueError, match="has labels"):
        family.inc()
    with pytest.raises(ValueError, match="only goes up"):
        family.labels("e", "z").inc(-1)


# --- the daemon's families ----------------------------------------------------------------------


def test_window_families_follow_each_published_window() -> None:
    # The window and model families are written once per published state: a new window
    # must show at the next scrape, in both formats.
    registry = MetricsRegistry()
    _metrics, live = daemon_state(registry)
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
        assert exposition(registry, accept)[0] == encoder(registry)
    for accept in ("", OPENMETRICS):
        body = exposition(registry, accept)[0]
        assert b'llm_monitor_window_probes{endpoint="openai",model="gpt-4.1-nano"' in body
        assert b'llm_monitor_window_probes{endpoint="azure-eastus"' not in body
        assert b"} 5.0\n" in body


def test_a_new_windows_text_is_made_between_scrapes_not_during_one() -> None:
    # The daemon publishes a window's families with a pause that waits while /metrics is
    # being written: their text (55,000 lines at 5,000 endpoints) is not made while a scrape
    # shares the interpreter with it, and the scrape after it shows the new window.
    registry = MetricsRegistry()
    metrics, live = daemon_state(registry)
    for n in range(20_000):  # a body of several chunks
        metrics.missed_runs.labels(f"endpoint-{n}").inc()
    assert b"} 3.0\n" in exposition(registry, OPENMETRICS)[0]  # OpenMetrics scraped before
    rows = [ProbeRow("openai", Outcome.SUCCESS, 0.9, 50.0, 1.5, 40, 20, 0.00002)] * 5
    later = compute_rollup(EndpointIdentity("openai", "gpt-4.1-nano", "openai", None), rows,
                           T0 + timedelta(seconds=1800), 1800)  # fmt: skip
    waited = threading.Event()

    def pause() -> bool:
        waited.set()
        return registry.wait_quiet(30.0)

    chunks = registry.chunks(openmetrics=True)
    assert chunks is not None
    first = next(chunks)  # a scrape has begun
    publisher = threading.Thread(target=live.publish, args=(LiveState((later,)), pause))
    publisher.start()
    assert waited.wait(10.0)
    publisher.join(0.5)
    assert publisher.is_alive()  # held before its first family
    body = first + b"".join(chunks)  # the scrape ends: the state it began with, whole
    assert (
        b'llm_monitor_window_probes{endpoint="openai",model="gpt-4.1-nano",provider="openai"} 3.0'
        in body
    )
    publisher.join(10.0)
    assert not publisher.is_alive()
    after = exposition(registry, OPENMETRICS)[0]
    assert (
        b'llm_monitor_window_probes{endpoint="openai",model="gpt-4.1-nano",provider="openai"} 5.0'
        in after
    )


HISTOGRAMS = (
    "llm_monitor_time_to_first_token_seconds",
    "llm_monitor_time_to_first_answer_token_seconds",
    "llm_monitor_output_tokens_per_second",
    "llm_monitor_request_duration_seconds",
    "llm_monitor_connect_seconds",
)


def test_declared_endpoints_have_empty_histograms_and_no_last_probe_gauges() -> None:
    config = _config()
    registry = MetricsRegistry()
    ProbeMetrics(registry).declare_endpoints(config.endpoints)
    body = exposition(registry)[0].decode()
    for endpoint in config.endpoints:
        model = f'model="{endpoint.model.id}"'
        provider = f'provider="{endpoint.provider}"'
        labels = f'endpoint="{endpoint.id}",location="local",{model},{provider}'
        for name in HISTOGRAMS:
            assert f"{name}_count{{{labels}}} 0.0\n" in body
            bucket = f'endpoint="{endpoint.id}",le="+Inf",location="local",{model},{provider}'
            assert f"{name}_bucket{{{bucket}}} 0.0\n" in body
    # A last-probe gauge at 0 would say the endpoint failed, or last answered in 1970.
    assert "llm_monitor_probe_success{" not in body
    assert "llm_monitor_last_probe_timestamp_seconds{" not in body


def test_a_removed_endpoint_leaves_no_series() -> None:
    registry = MetricsRegistry()
    daemon_state(registry)  # "gone" was declared, probed and forgotten
    for accept in (OPENMETRICS, ""):
        body = exposition(registry, accept)[0].decode()
        families = text_string_to_metric_families(body.replace("# EOF\n", ""))
        gone = [s for f in families for s in f.samples if s.labels.get("endpoint") == "gone"]
        assert gone == []
        assert 'endpoint="openai"' in body


def test_a_started_daemon_has_frozen_its_endpoints_metric_series(tmp_path: Path) -> None:
    # The series of every declared endpoint exist before the daemon freezes its start-up
    # objects, so the collector's full scans (whose pauses delay the measuring loop) do not
    # walk them: gc.get_objects() leaves frozen objects out. A scrape finds the same series.
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
        metrics = daemon.metrics
        series: list[object] = [
            family.labels(endpoint.id, "openai", "m", config.agent.location)
            for endpoint in config.endpoints
            for family in (*metrics.histograms, metrics.output_tokens, metrics.cost)
        ]
        exposition(daemon.registry)
        exposition(daemon.registry, OPENMETRICS)
        tracked = {id(obj) for obj in gc.get_objects()}
        assert series and not any(id(obj) in tracked for obj in series)
        again = [
            family.labels(endpoint.id, "openai", "m", config.agent.location)
            for endpoint in config.endpoints
            for family in (*metrics.histograms, metrics.output_tokens, metrics.cost)
        ]
        assert all(a is b for a, b in zip(again, series, strict=True))
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


# --- prometheus_client through its public API only ----------------------------------------------


def _is_client(module: str) -> bool:
    return module.split(".")[0] == "prometheus_client"


def _private_uses(path: Path) -> list[str]:
    """In a module that imports prometheus_client: imports of its underscore names, and
    underscore attributes read from anything but ``self`` (which could be its objects)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and _is_client(node.module or ""))
        or (isinstance(node, ast.Import) and any(_is_client(a.name) for a in node.names))
    ]
    if not imported:
        return []
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: imports {name}"
        for node in imported
        for name in [
            *((node.module or "").split(".") if isinstance(node, ast.ImportFrom) else []),
            *(part for alias in node.names for part in alias.name.split(".")),
        ]
        if name.startswith("_")
    ]
    found += [
        f"{path.relative_to(ROOT)}:{node.lineno}: reads .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    return found


def test_the_monitor_uses_only_prometheus_clients_public_names() -> None:
    # A private attribute renamed by a prometheus_client release must not break /metrics.
    found = [
        use for path in sorted((ROOT / "monitor").rglob("*.py")) for use in _private_uses(path)
    ]
    assert found == []


def test_the_answer_ttft_histogram_takes_each_successful_probes_answer_ttft() -> None:
    registry = MetricsRegistry()
    metrics = ProbeMetrics(registry, agent="a", location="here")
    metrics.declare_endpoints(_config().endpoints)
    # A reasoning model: first token at 0.4 s, the answer at 2.6 s; then one that streams no
    # reasoning (the same time twice), and a failure (no answer: nothing observed).
    for ttft, answer in ((0.4, 2.6), (0.3, 0.3)):
        metrics.observe(make_probe(endpoint="openai", provider="openai", ttft_seconds=ttft,
                                   answer_ttft_seconds=answer))  # fmt: skip
    metrics.observe(bare_probe(endpoint="openai", provider="openai", outcome=Outcome.TIMEOUT))
    body = exposition(registry)[0].decode()
    labels = 'endpoint="openai",location="here",model="gpt-4.1-nano",provider="openai"'
    name = "llm_monitor_time_to_first_answer_token_seconds"
    assert f"{name}_count{{{labels}}} 2.0\n" in body
    assert f"{name}_sum{{{labels}}} 2.9\n" in body
    bucket = 'endpoint="openai",le="2.5",location="here",model="gpt-4.1-nano",provider="openai"'
    assert f"{name}_bucket{{{bucket}}} 1.0\n" in body  # 0.3 s, not 2.6 s
    assert f"llm_monitor_time_to_first_token_seconds_sum{{{labels}}} 0.7\n" in body
