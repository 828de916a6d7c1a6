"""Prometheus metrics: every name of DESIGN section 4, in one place.

Per-probe metrics are updated by :class:`MetricsSink` from each ``ProbeResult``. Window and model
gauges are not stored in the registry: :class:`LiveCollector` builds them at scrape time from the
latest :class:`LiveState` the rollup job published, so they always describe the last complete
window and vanish with an endpoint that was removed. Labels are identifiers only (never URLs,
keys or error text).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.config import Endpoint, ModelSpec
from monitor.outcomes import Outcome
from monitor.profile import ModelLive
from monitor.result import ProbeResult
from monitor.rollup import EndpointRollup

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
        self.skipped = Counter(
            "llm_monitor_probes_skipped",
            "Scheduled probes not sent, by reason (retry_after: the provider's 429 asked to wait).",
            ("endpoint", "reason"),
            registry=registry,
        )
        self.config_reload_success = Gauge(
            "llm_monitor_config_last_reload_success",
            "1 if the last configuration (re)load succeeded.", registry=registry,
        )  # fmt: skip
        self.build_info.labels(version=__version__).set(1)
        self.config_reload_success.set(1)

    def declare_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """Create every endpoint's series up front, so rates and absent() work from the start."""
        for endpoint in endpoints:
            labels = (endpoint.id, endpoint.provider, endpoint.model.id)
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
            self.skipped.labels(endpoint.id, "retry_after")

    def forget_endpoint(self, endpoint: Endpoint) -> None:
        """Drop a removed endpoint's series."""
        labels = (endpoint.id, endpoint.provider, endpoint.model.id)
        for metric in (
            self.success, self.last_probe, self.ttft, self.speed, self.duration, self.connect,
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
        _remove(self.skipped, (endpoint.id, "retry_after"))

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

    def publish(self, state: LiveState) -> None:
        """Replace the state the gauges show."""
        with self._lock:
            self._state = state

    def collect(self) -> Iterable[Metric]:
        """Yield the window and model gauge families."""
        with self._lock:
            state = self._state
        yield from _window_families(state.rollups)
        yield from _model_families(state.models, state.profiles)

    def describe(self) -> Iterable[Metric]:
        """Nothing: the families depend on the state (prometheus-client then skips a check)."""
        return ()


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
