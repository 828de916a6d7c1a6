"""Prometheus metrics: every name of DESIGN section 4, in one place.

Per-probe metrics are updated by :class:`MetricsSink` from each ``ProbeResult``. Window and model
gauges are not stored in the registry: :class:`LiveCollector` builds them at scrape time from the
latest :class:`LiveState` the rollup job published, so they always describe the last complete
window and vanish with an endpoint that was removed. Labels are identifiers only (never URLs,
keys or error text).
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    values,
)
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics.exposition import UNDERSCORES
from prometheus_client.openmetrics.exposition import (
    generate_latest as openmetrics_generate_latest,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor import __version__
from monitor.config import Endpoint, ModelSpec
from monitor.core.outcomes import Outcome, SkipReason
from monitor.core.profile import ModelLive
from monitor.core.result import ProbeResult
from monitor.core.rollup import EndpointRollup

ENDPOINT_LABELS = ("endpoint", "provider", "model")

#: Seconds. Alert thresholds (TTFT p95 above 1, 2, 5 s; a 30 s or 60 s timeout) sit on bounds.
LATENCY_BUCKETS = (
    0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0,
    7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
#: Seconds of connection setup (TCP + TLS), much shorter than a completion.
CONNECT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Tokens per second. Speed-drop alerts compare against 10, 20, 50 and 100 tok/s.
SPEED_BUCKETS = (
    5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 75.0, 100.0, 125.0, 150.0, 200.0,
    250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 2000.0,
)  # fmt: skip


class ProbeMetrics:
    """The registry's per-probe and self-health metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # prometheus_client adds a `_created` series to every counter and histogram child: 17
        # of the ~135 series per endpoint, which Prometheus stores but no query, rule or
        # dashboard here uses. Off for the process, as the exposition then writes none.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        labels = ENDPOINT_LABELS
        self.probes = Counter(
            "llm_monitor_probes", "Probes finished, by outcome.", (*labels, "outcome"),
            registry=registry,
        )  # fmt: skip
        self.success = Gauge(
            "llm_monitor_probe_success", "1 if the last probe succeeded, else 0.", labels,
            registry=registry,
        )  # fmt: skip
        self.last_probe = Gauge(
            "llm_monitor_last_probe_timestamp_seconds",
            "Start time of the last finished probe (Unix seconds).", labels, registry=registry,
        )  # fmt: skip
        self.ttft = Histogram(
            "llm_monitor_time_to_first_token_seconds",
            "Time to first token of successful probes.", labels, buckets=LATENCY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.speed = Histogram(
            "llm_monitor_output_tokens_per_second",
            "Output speed after the first chunk of successful probes.", labels,
            buckets=SPEED_BUCKETS, registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "llm_monitor_request_duration_seconds",
            "End-to-end latency of probes (request start to end of stream).", labels,
            buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.connect = Histogram(
            "llm_monitor_connect_seconds",
            "Connection setup time (TCP, TLS) of probes that opened a new connection.", labels,
            buckets=CONNECT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.output_tokens = Counter(
            "llm_monitor_output_tokens", "Output tokens used by probes.", labels,
            registry=registry,
        )  # fmt: skip
        self.input_tokens = Counter(
            "llm_monitor_input_tokens", "Input tokens used by probes.", labels,
            registry=registry,
        )  # fmt: skip
        self.cost = Counter(
            "llm_monitor_probe_cost_usd", "What the probes cost in USD, from usage and pricing.",
            labels, registry=registry,
        )  # fmt: skip
        self.endpoint_info = Gauge(
            "llm_monitor_endpoint_info", "Endpoint metadata (always 1).",
            (*labels, "region", "deployment", "api_version"), registry=registry,
        )  # fmt: skip
        self.build_info = Gauge(
            "llm_monitor_build_info", "The running llm-monitor version (always 1).", ("version",),
            registry=registry,
        )  # fmt: skip
        self.loop_lag = Gauge(
            "llm_monitor_event_loop_lag_seconds",
            "How late the probing event loop ran a timer, last measurement.", registry=registry,
        )  # fmt: skip
        self.storage_errors = Counter(
            "llm_monitor_storage_errors", "Failed writes or reads of the store.",
            registry=registry,
        )  # fmt: skip
        self.missed_runs = Counter(
            "llm_monitor_scheduler_missed_runs",
            "Scheduled probes that did not run on time (coalesced or skipped).", ("endpoint",),
            registry=registry,
        )  # fmt: skip
        self.scheduling_delay = Histogram(
            "llm_monitor_scheduler_delay_seconds",
            "How late scheduled probes started: actual minus planned start (jitter excluded).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.skipped = Counter(
            "llm_monitor_probes_skipped",
            "Scheduled probes not sent, by reason (retry_after: a 429 said how long to wait;"
            " backoff: 429s in a row that did not).",
            ("endpoint", "reason"),
            registry=registry,
        )
        self.config_reload_success = Gauge(
            "llm_monitor_config_last_reload_success",
            "1 if the last configuration (re)load succeeded.", registry=registry,
        )  # fmt: skip
        #: The per-endpoint histograms, made for each endpoint when it is declared.
        self.histograms = (self.ttft, self.speed, self.duration, self.connect)
        self.build_info.labels(version=__version__).set(1)
        self.config_reload_success.set(1)

    def declare_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """Create every endpoint's series up front, so rates and absent() work from the start.

        Histograms too: their counts then start at 0, so the first probes count in increase(),
        and their children (about 75 values and locks per endpoint) exist when the daemon
        freezes its start-up objects, out of the collector's full scans; created by the first
        probes instead, they made every full collection of a daemon with 2,000 endpoints scan
        300,000 more objects, a 150-340 ms pause of the measuring loop. The last-probe gauges
        (``probe_success``, ``last_probe_timestamp_seconds``) wait for a probe: a 0 there would
        say something false."""
        for endpoint in endpoints:
            labels = (endpoint.id, endpoint.provider, endpoint.model.id)
            for histogram in self.histograms:
                histogram.labels(*labels)
            self.endpoint_info.labels(
                *labels,
                endpoint.region or "",
                endpoint.deployment or "",
                endpoint.api_version or "",
            ).set(1)
            for outcome in Outcome:
                self.probes.labels(*labels, outcome.value)
            for metric in (self.output_tokens, self.input_tokens, self.cost):
                metric.labels(*labels)
            self.missed_runs.labels(endpoint.id)
            for reason in SkipReason:
                self.skipped.labels(endpoint.id, reason.value)

    def forget_endpoint(self, endpoint: Endpoint) -> None:
        """Drop a removed endpoint's series."""
        labels = (endpoint.id, endpoint.provider, endpoint.model.id)
        for metric in (
            self.success, self.last_probe, *self.histograms,
            self.output_tokens, self.input_tokens, self.cost,
        ):  # fmt: skip
            _remove(metric, labels)
        for outcome in Outcome:
            _remove(self.probes, (*labels, outcome.value))
        _remove(
            self.endpoint_info,
            (*labels, endpoint.region or "", endpoint.deployment or "", endpoint.api_version or ""),
        )
        _remove(self.missed_runs, (endpoint.id,))
        for reason in SkipReason:
            _remove(self.skipped, (endpoint.id, reason.value))

    def observe(self, result: ProbeResult) -> None:
        """Account for one finished probe."""
        labels = (result.endpoint, result.provider, result.model)
        self.probes.labels(*labels, result.outcome.value).inc()
        self.last_probe.labels(*labels).set(result.started_at.timestamp())
        if result.outcome is Outcome.CANCELLED:
            return
        self.success.labels(*labels).set(1 if result.ok else 0)
        if result.ok:
            if result.ttft_seconds is not None:
                self.ttft.labels(*labels).observe(result.ttft_seconds)
            if result.output_tokens_per_second is not None:
                self.speed.labels(*labels).observe(result.output_tokens_per_second)
        if result.total_seconds is not None:
            self.duration.labels(*labels).observe(result.total_seconds)
        if result.connect_seconds and not result.connection_reused:
            self.connect.labels(*labels).observe(result.connect_seconds)
        if result.output_tokens is not None:
            self.output_tokens.labels(*labels).inc(result.output_tokens)
        if result.input_tokens is not None:
            self.input_tokens.labels(*labels).inc(result.input_tokens)
        if result.cost_usd is not None:
            self.cost.labels(*labels).inc(result.cost_usd)


def _remove(metric: Counter | Gauge | Histogram, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the rollup job last published: the last complete window and the model profiles."""

    rollups: tuple[EndpointRollup, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    profiles: tuple[ModelLive, ...] = ()


class LiveCollector(Collector):
    """Window and model gauges, built from the current LiveState at scrape time."""

    def __init__(self) -> None:
        self._state = LiveState()
        self._lock = threading.Lock()
        #: Exposition text of a state, by format (True: OpenMetrics); see exposition_text.
        self._texts: dict[bool, tuple[LiveState, str]] = {}

    def publish(self, state: LiveState) -> None:
        """Replace the state the gauges show."""
        with self._lock:
            self._state = state

    def collect(self) -> Iterable[Metric]:
        """Yield the window and model gauge families."""
        with self._lock:
            state = self._state
        return _live_families(state)

    def exposition_text(self, openmetrics: bool) -> str:
        """The families as exposition text. The state changes once a window, so the text of
        a state is made by its first scrape and served to the next ones."""
        with self._lock:
            state = self._state
            cached = self._texts.get(openmetrics)
        if cached is not None and cached[0] is state:
            return cached[1]
        out: list[str] = []
        for family in _live_families(state):
            _render_family(family, out, openmetrics)
        text = "".join(out)
        with self._lock:
            self._texts[openmetrics] = (state, text)
        return text

    def describe(self) -> Iterable[Metric]:
        """Nothing: the families depend on the state (prometheus-client then skips a check)."""
        return ()


def _live_families(state: LiveState) -> list[Metric]:
    return [
        *_window_families(state.rollups),
        *_model_families(state.models, state.profiles),
    ]


def _window_families(rollups: Sequence[EndpointRollup]) -> Iterable[Metric]:
    uptime = GaugeMetricFamily(
        "llm_monitor_window_uptime_ratio",
        "Uptime in the last complete rollup window.", labels=ENDPOINT_LABELS,
    )  # fmt: skip
    # Typed summary, not gauge (DESIGN section 4 says gauge): only a summary may carry a
    # quantile label, and promtool rejects it on anything else. Series names are unchanged;
    # _count and _sum (count x mean) come with them.
    ttft = Metric(
        "llm_monitor_window_time_to_first_token_seconds",
        "TTFT quantiles of successful probes in the last complete rollup window.",
        "summary",
    )
    speed = Metric(
        "llm_monitor_window_output_tokens_per_second",
        "Output speed quantiles of successful probes in the last complete rollup window.",
        "summary",
    )
    probes = GaugeMetricFamily(
        "llm_monitor_window_probes",
        "Probes in the last complete rollup window.", labels=ENDPOINT_LABELS,
    )  # fmt: skip
    for rollup in rollups:
        labels = {"endpoint": rollup.endpoint, "provider": rollup.provider, "model": rollup.model}
        probes.add_metric(list(labels.values()), rollup.probes)
        if rollup.uptime_ratio is not None:
            uptime.add_metric(list(labels.values()), rollup.uptime_ratio)
        for family, dist in ((ttft, rollup.ttft), (speed, rollup.speed)):
            if not dist.count or dist.mean is None:
                continue
            for quantile, value in (("0.5", dist.p50), ("0.95", dist.p95)):
                if value is not None:
                    family.add_sample(family.name, {**labels, "quantile": quantile}, value)
            family.add_sample(f"{family.name}_count", labels, dist.count)
            family.add_sample(f"{family.name}_sum", labels, dist.mean * dist.count)
    return (uptime, ttft, speed, probes)


def _model_families(models: Sequence[ModelSpec], profiles: Sequence[ModelLive]) -> Iterable[Metric]:
    info = GaugeMetricFamily(
        "llm_monitor_model_info", "Model profile facts (always 1).",
        labels=("model", "name", "creator", "release_date", "modality"),
    )  # fmt: skip
    price = GaugeMetricFamily(
        "llm_monitor_model_price_usd_per_million_tokens", "Model price per million tokens.",
        labels=("model", "token_type"),
    )  # fmt: skip
    context = GaugeMetricFamily(
        "llm_monitor_model_context_window_tokens", "Model context window.", labels=("model",)
    )
    max_output = GaugeMetricFamily(
        "llm_monitor_model_max_output_tokens", "Model maximum output tokens.", labels=("model",)
    )
    uptime = GaugeMetricFamily(
        "llm_monitor_model_uptime_ratio",
        "Mean endpoint uptime over the profile's uptime window.", labels=("model",),
    )  # fmt: skip
    best_ttft = GaugeMetricFamily(
        "llm_monitor_model_best_time_to_first_token_seconds",
        "Lowest endpoint p50 TTFT in the last complete window.", labels=("model",),
    )  # fmt: skip
    best_speed = GaugeMetricFamily(
        "llm_monitor_model_best_output_tokens_per_second",
        "Highest endpoint p50 output speed in the last complete window.", labels=("model",),
    )  # fmt: skip
    total = GaugeMetricFamily(
        "llm_monitor_model_endpoints", "Configured endpoints of the model.", labels=("model",)
    )
    active = GaugeMetricFamily(
        "llm_monitor_model_endpoints_active",
        "Endpoints of the model with a success in the last complete window.", labels=("model",),
    )  # fmt: skip
    for model in models:
        info.add_metric(
            [
                model.id,
                model.name or model.id,
                model.creator or "",
                model.release_date.isoformat() if model.release_date else "",
                model.modality or "",
            ],
            1,
        )
        if model.pricing is not None:
            price.add_metric([model.id, "input"], model.pricing.input_per_million)
            price.add_metric([model.id, "output"], model.pricing.output_per_million)
            if model.pricing.cached_input_per_million is not None:
                price.add_metric([model.id, "cached_input"], model.pricing.cached_input_per_million)
        if model.context_window is not None:
            context.add_metric([model.id], model.context_window)
        if model.max_output_tokens is not None:
            max_output.add_metric([model.id], model.max_output_tokens)
    for live in profiles:
        labels = [live.model]
        total.add_metric(labels, live.total_endpoints)
        active.add_metric(labels, live.active_endpoints)
        if live.avg_uptime_ratio is not None:
            uptime.add_metric(labels, live.avg_uptime_ratio)
        if live.best_ttft_seconds is not None:
            best_ttft.add_metric(labels, live.best_ttft_seconds)
        if live.best_output_tokens_per_second is not None:
            best_speed.add_metric(labels, live.best_output_tokens_per_second)
    return (info, price, context, max_output, uptime, best_ttft, best_speed, total, active)


# --- the exposition -----------------------------------------------------------------------------
#
# ``prometheus_client.generate_latest`` costs about 7 µs per sample: ``collect()`` builds a
# ``Sample`` and a label dict for each one, then each label set is sorted, validated and escaped
# again on every scrape. With a thousand endpoints (~135,000 samples, mostly histogram buckets)
# that is a second of GIL-holding work, during which the measuring loop's timestamps are late.
# ``exposition`` writes the same bytes from the metric objects' values, with each series' label
# text built once and cached. It reads prometheus_client's metric internals (children, values,
# buckets, created times); tests/test_metrics.py checks that the output stays byte for byte that
# of prometheus_client, in both formats, so an upgrade that changes them fails a test instead of
# the scrape.

#: prometheus_client's number formatting (Go's), typed.
_go = cast(Callable[[Any], str], floatToGoString)


class _Numbers(dict[float, str]):
    """``floatToGoString`` of positive numbers, remembered: most samples are small counts that
    recur across series (zeros go around it, since -0.0 == 0.0 but prints differently)."""

    __slots__ = ()

    def __missing__(self, value: float) -> str:
        text = _go(value)
        if value > 0 and len(self) < 65_536:
            self[value] = text
        return text


def _number_formatter() -> Callable[[Any], str]:
    numbers = _Numbers()
    lookup = numbers.__getitem__

    def number(value: Any) -> str:
        if value == 0:
            return "0.0" if math.copysign(1.0, value) > 0 else "-0.0"
        return lookup(value)

    return number


def exposition(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """The ``/metrics`` body and content type for ``accept`` (prometheus_client's negotiation)."""
    encoder, content_type = choose_encoder(accept)
    openmetrics: bool
    if encoder is generate_latest:
        openmetrics = False
    elif (
        isinstance(encoder, functools.partial)
        and encoder.func is openmetrics_generate_latest
        and encoder.keywords.get("escaping") == UNDERSCORES
        and encoder.keywords.get("version") == "1.0.0"
        and not encoder.args
    ):
        openmetrics = True
    else:  # an escaping scheme or version the fast path does not write
        return encoder(registry), content_type
    try:
        fast = _render(registry, openmetrics=openmetrics)
    except _Unsupported:
        fast = None
    return (encoder(registry) if fast is None else fast), content_type


def prepare_exposition(registry: CollectorRegistry) -> None:
    """Make the text that scrapes keep for each series of ``registry``'s metrics now, without
    rendering anything (the daemon does this before it freezes its start-up objects)."""
    for collector in _collectors(registry) or ():
        if type(collector) not in _FAST_TYPES or not collector._is_parent():
            continue
        cache = _cache_of(collector).series
        with collector._lock:
            label_sets = list(collector._metrics)
        for label_values in label_sets:
            _series_of(cache, collector._labelnames, label_values)


def _collectors(registry: CollectorRegistry) -> list[Any] | None:
    """The registry's collectors in registration order; None if it is not one whose
    collectors this module can read."""
    lock = getattr(registry, "_lock", None)
    collectors = getattr(registry, "_collector_to_names", None)
    if lock is None or collectors is None:
        return None
    with lock:
        return list(collectors)


def _render(registry: CollectorRegistry, *, openmetrics: bool) -> bytes | None:
    if values.ValueClass is not values.MutexValue:
        return None  # multiprocess mode keeps values elsewhere
    ordered = _collectors(registry)
    if ordered is None or getattr(registry, "_target_info", None):
        return None
    out: list[str] = []
    created = prometheus_metrics._use_created
    for collector in ordered:
        if type(collector) in _FAST_TYPES:
            _render_wrapper(collector, out, openmetrics, created)
        elif type(collector) is LiveCollector:
            out.append(collector.exposition_text(openmetrics))
        else:
            for family in collector.collect():
                _render_family(family, out, openmetrics)
    if openmetrics:
        out.append("# EOF\n")
    return "".join(out).encode("utf-8")


_FAST_TYPES = (Counter, Gauge, Histogram)
_LEGACY_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_label_cache: dict[tuple[str, ...], str] = {}
_LABEL_CACHE_LIMIT = 200_000


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help(name: str, documentation: str, openmetrics: bool) -> str:
    if openmetrics:
        doc = _escape_value(documentation)
    else:
        doc = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n"


def _pairs(items: Iterable[tuple[str, str]]) -> list[str]:
    return [f'{name}="{_escape_value(value)}"' for name, value in sorted(items)]


def _labels_text(items: tuple[str, ...]) -> str:
    """``{a="1",b="2"}`` of flat (name, value, name, value...) items, sorted by name."""
    text = _label_cache.get(items)
    if text is None:
        if len(_label_cache) > _LABEL_CACHE_LIMIT:
            _label_cache.clear()
        names = items[::2]
        if not all(_LEGACY_NAME.match(n) and ":" not in n for n in names):
            raise _Unsupported
        pairs = _pairs(zip(names, items[1::2], strict=True))
        text = "{" + ",".join(pairs) + "}" if pairs else ""
        _label_cache[items] = text
    return text


class _Series:
    """A series' label text, and its histogram bucket label text around ``le``."""

    __slots__ = ("after", "before", "created", "created_of", "labels")

    def __init__(self, names: Sequence[str], label_values: Sequence[str]) -> None:
        # A child's creation time never changes: its text is kept with the child it belongs to.
        self.created_of: Any = None
        self.created = ""
        items = list(zip(names, label_values, strict=True))
        self.labels = _labels_text(tuple(v for pair in items for v in pair))
        low = _pairs(p for p in items if p[0] < "le")
        high = _pairs(p for p in items if p[0] > "le")
        self.before = "{" + "".join(f"{pair}," for pair in low) + 'le="'
        self.after = '"' + "".join(f",{pair}" for pair in high) + "}"


def _series_of(
    cache: dict[tuple[str, ...], _Series], names: Sequence[str], label_values: tuple[str, ...]
) -> _Series:
    """The cached text of a series, made on first use."""
    series = cache.get(label_values)
    if series is None:
        series = cache[label_values] = _Series(names, label_values)
    return series


class _WrapperCache:
    """What the exposition of one metric object reuses from scrape to scrape."""

    __slots__ = ("bounds", "metric", "series")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.series: dict[tuple[str, ...], _Series] = {}
        bounds = getattr(metric, "_upper_bounds", ())
        self.bounds: list[str] = [_go(bound) for bound in bounds]


_wrapper_cache: dict[int, _WrapperCache] = {}
_wrapper_lock = threading.Lock()


def _cache_of(metric: Any) -> _WrapperCache:
    key = id(metric)
    cached = _wrapper_cache.get(key)
    if cached is None or cached.metric is not metric:
        cached = _WrapperCache(metric)
        with _wrapper_lock:
            if len(_wrapper_cache) > 10_000:
                _wrapper_cache.clear()  # registries come and go (tests): keep this bounded
            _wrapper_cache[key] = cached
    return cached


def _render_wrapper(
    metric: Counter | Gauge | Histogram, out: list[str], openmetrics: bool, created: bool
) -> None:
    wrapper: Any = metric
    name: str = wrapper._name
    kind: str = wrapper._type
    label_names: tuple[str, ...] = wrapper._labelnames
    if not _LEGACY_NAME.match(name):
        raise _Unsupported
    if wrapper._is_parent():
        with wrapper._lock:
            children = list(wrapper._metrics.items())
    else:
        children = [((), wrapper)]
    if any("_child_samples" in vars(child) for _values, child in children):
        # Gauge.set_function: the value comes from a callback; let the wrapper say it.
        for family_ in metric.collect():
            _render_family(family_, out, openmetrics)
        return
    state = _cache_of(metric)
    cache = state.series
    if len(cache) > 2 * len(children) + 16:
        cache.clear()  # series were removed: forget their label text
    family = name + "_total" if kind == "counter" and not openmetrics else name
    out.append(_help(family, wrapper._documentation, openmetrics))
    out.append(f"# TYPE {family} {kind}\n")
    if openmetrics and wrapper._unit:
        out.append(f"# UNIT {family} {wrapper._unit}\n")
    late: list[str] = []  # text format: _created samples follow in a gauge family of their own
    created_out = out if openmetrics else late
    go = _number_formatter()
    for label_values, child in children:
        series = _series_of(cache, label_names, label_values)
        labels = series.labels
        if kind == "histogram":
            before, after = series.before, series.after
            total = 0.0
            for bound, bucket in zip(state.bounds, child._buckets, strict=True):
                if openmetrics and bucket._exemplar is not None:
                    raise _Unsupported
                total += bucket._value
                out.append(f"{name}_bucket{before}{bound}{after} {go(total)}\n")
            out.append(f"{name}_count{labels} {go(total)}\n")
            if wrapper._upper_bounds[0] >= 0:
                out.append(f"{name}_sum{labels} {go(child._sum._value)}\n")
            if created:
                created_out.append(_created_line(series, child, name, labels))
        elif kind == "counter":
            if openmetrics and child._value._exemplar is not None:
                raise _Unsupported
            out.append(f"{name}_total{labels} {go(child._value._value)}\n")
            if created:
                created_out.append(_created_line(series, child, name, labels))
        else:
            out.append(f"{name}{labels} {go(child._value._value)}\n")
    if late:
        out.append(_help(f"{name}_created", wrapper._documentation, openmetrics))
        out.append(f"# TYPE {name}_created gauge\n")
        out.extend(late)


def _created_line(series: _Series, child: Any, name: str, labels: str) -> str:
    if series.created_of is not child:
        series.created_of = child
        series.created = f"{name}_created{labels} {_go(child._created)}\n"
    return series.created


def _render_family(family: Metric, out: list[str], openmetrics: bool) -> None:
    name, kind = family.name, family.type
    if not _LEGACY_NAME.match(name):
        raise _Unsupported
    if openmetrics:
        shown = name
    else:
        shown = {"counter": name + "_total", "info": name + "_info"}.get(kind, name)
        kind = {
            "info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram",
            "unknown": "untyped",
        }.get(kind, kind)  # fmt: skip
    out.append(_help(shown, family.documentation, openmetrics))
    out.append(f"# TYPE {shown} {kind}\n")
    if openmetrics and family.unit:
        out.append(f"# UNIT {shown} {family.unit}\n")
    late: dict[str, list[str]] = {}
    go = _go
    for sample in family.samples:
        if (
            sample.exemplar is not None
            or sample.native_histogram is not None
            or sample.value is None
            or not _LEGACY_NAME.match(sample.name)
        ):
            raise _Unsupported
        labels = _labels_text(tuple(v for pair in sample.labels.items() for v in pair))
        if sample.timestamp is not None:
            stamp = sample.timestamp if openmetrics else int(float(sample.timestamp) * 1000)
            line = f"{sample.name}{labels} {go(sample.value)} {stamp}\n"
        else:
            line = f"{sample.name}{labels} {go(sample.value)}\n"
        suffix = sample.name[len(name) :] if sample.name.startswith(name) else ""
        if not openmetrics and suffix in ("_created", "_gsum", "_gcount"):
            late.setdefault(suffix, []).append(line)
        else:
            out.append(line)
    for suffix, lines in sorted(late.items()):
        out.append(_help(name + suffix, family.documentation, openmetrics))
        out.append(f"# TYPE {name}{suffix} gauge\n")
        out.extend(lines)


class _Unsupported(Exception):
    """A sample the fast path does not write (exemplars, native histograms)."""
