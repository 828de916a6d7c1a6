"""Per-probe and self-health metrics, updated by the sink from each ``ProbeResult``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from prometheus_client.registry import Collector

from monitor import __version__
from monitor.config import Endpoint
from monitor.core.kinds import DEFAULT_KIND
from monitor.core.outcomes import Outcome, SkipReason
from monitor.core.result import STAMP_SOURCES, ProbeResult
from monitor.metrics import names
from monitor.metrics.families import CounterFamily, GaugeFamily, HistogramFamily


class Registry(Protocol):
    """Where families are registered: a ``MetricsRegistry`` (the daemon's) or a
    ``prometheus_client.CollectorRegistry``."""

    def register(self, collector: Collector) -> None:
        """Add a collector."""
        ...


class ProbeMetrics:
    """The per-probe and self-health families (see ``monitor.metrics.names``), registered in
    ``registry`` in the order of ``names.PROBE_FAMILIES``."""

    def __init__(self, registry: Registry, *, agent: str = "", location: str = "local") -> None:
        #: The ``location`` label of every probe series: this agent's location.
        self.location = location
        self.probes = CounterFamily(names.PROBES)
        self.success = GaugeFamily(names.PROBE_SUCCESS)
        self.last_probe = GaugeFamily(names.LAST_PROBE)
        self.ttft = HistogramFamily(names.TTFT)
        self.answer_ttft = HistogramFamily(names.ANSWER_TTFT)
        self.speed = HistogramFamily(names.SPEED)
        self.duration = HistogramFamily(names.DURATION)
        self.connect = HistogramFamily(names.CONNECT)
        self.output_tokens = CounterFamily(names.OUTPUT_TOKENS)
        self.input_tokens = CounterFamily(names.INPUT_TOKENS)
        self.cost = CounterFamily(names.COST)
        self.endpoint_info = GaugeFamily(names.ENDPOINT_INFO)
        self.build_info = GaugeFamily(names.BUILD_INFO)
        self.loop_lag = GaugeFamily(names.LOOP_LAG)
        self.storage_errors = CounterFamily(names.STORAGE_ERRORS)
        self.missed_runs = CounterFamily(names.MISSED_RUNS)
        self.scheduling_delay = HistogramFamily(names.SCHEDULING_DELAY)
        self.skipped = CounterFamily(names.SKIPPED)
        self.config_reload_success = GaugeFamily(names.CONFIG_RELOAD_SUCCESS)
        self.leader = GaugeFamily(names.ROLLUP_LEADER)
        self.clock_offset = GaugeFamily(names.CLOCK_OFFSET)
        self.budget_exhausted = GaugeFamily(names.BUDGET_EXHAUSTED)
        self.stamps = CounterFamily(names.STAMPS)
        self.kind_probes = CounterFamily(names.KIND_PROBES)
        self.kind_ttft = HistogramFamily(names.KIND_TTFT)
        self.kind_input_tokens = GaugeFamily(names.KIND_INPUT_TOKENS)
        #: Endpoints with kinds besides the default one: their probes feed the kind families.
        self._kinded: set[str] = set()
        families = (
            self.probes, self.success, self.last_probe, self.ttft, self.answer_ttft, self.speed,
            self.duration,
            self.connect, self.output_tokens, self.input_tokens, self.cost, self.endpoint_info,
            self.build_info, self.loop_lag, self.storage_errors, self.missed_runs,
            self.scheduling_delay, self.skipped, self.config_reload_success,
            self.leader, self.clock_offset, self.budget_exhausted, self.stamps,
            self.kind_probes, self.kind_ttft, self.kind_input_tokens,
        )  # fmt: skip
        for family in families:
            registry.register(family)
        self._agent = (agent, location)
        #: 1 while this agent holds the rollup lease.
        self.rollup_leader = self.leader.labels(agent, location)
        #: The per-endpoint histograms.
        self.histograms = (self.ttft, self.answer_ttft, self.speed, self.duration, self.connect)
        self.build_info.labels(__version__).set(1)
        self.config_reload_success.set(1)
        self.budget_exhausted.set(0)
        self._stamps = {
            source: self.stamps.labels(agent, location, source) for source in STAMP_SOURCES
        }

    def declare_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """Make every endpoint's series up front, so rates and absent() work from the start.

        Histograms too: their counts then start at 0, so the first probes count in increase(),
        and their objects and text exist when the daemon freezes its start-up objects, out of
        the collector's full scans (made by the first probes instead, every full collection of
        a daemon with thousands of endpoints would scan them all, a pause of the measuring
        loop). The last-probe gauges (``probe_success``, ``last_probe_timestamp_seconds``) wait
        for a probe: a 0 there would say something false."""
        for endpoint in endpoints:
            labels = self._labels(endpoint)
            for histogram in self.histograms:
                histogram.labels(*labels)
            self.endpoint_info.labels(*labels, *_info(endpoint)).set(1)
            for outcome in Outcome:
                self.probes.labels(*labels, outcome.value)
            for counter in (self.output_tokens, self.input_tokens, self.cost):
                counter.labels(*labels)
            self.missed_runs.labels(endpoint.id)
            for reason in SkipReason:
                self.skipped.labels(endpoint.id, reason.value)
            if endpoint.kinds:
                # The kind histograms up front, as the others; the kind counters appear
                # with their first probe (14 outcomes of every kind would be a third more
                # lines for each endpoint with kinds).
                self._kinded.add(endpoint.id)
                for kind in (DEFAULT_KIND, *(k.name for k in endpoint.kinds)):
                    self.kind_ttft.labels(*labels, kind)

    def forget_endpoint(self, endpoint: Endpoint) -> None:
        """Drop a removed endpoint's series."""
        labels = self._labels(endpoint)
        for family in (
            self.success, self.last_probe, *self.histograms,
            self.output_tokens, self.input_tokens, self.cost,
        ):  # fmt: skip
            family.remove(*labels)
        for outcome in Outcome:
            self.probes.remove(*labels, outcome.value)
        self.endpoint_info.remove(*labels, *_info(endpoint))
        self.missed_runs.remove(endpoint.id)
        for reason in SkipReason:
            self.skipped.remove(endpoint.id, reason.value)
        if endpoint.id in self._kinded:
            self._kinded.discard(endpoint.id)
            for kind in (DEFAULT_KIND, *(k.name for k in endpoint.kinds)):
                for family in (self.kind_ttft, self.kind_input_tokens):
                    family.remove(*labels, kind)
                for outcome in Outcome:
                    self.kind_probes.remove(*labels, kind, outcome.value)

    def set_clock_offset(self, seconds: float) -> None:
        """This agent's clock minus the store's, from its last heartbeat."""
        self.clock_offset.labels(*self._agent).set(seconds)

    def _labels(self, endpoint: Endpoint) -> tuple[str, str, str, str]:
        return (endpoint.id, endpoint.provider, endpoint.model.id, self.location)

    def observe(self, result: ProbeResult) -> None:
        """Account for one finished probe: a probe of the default kind in every family, one of
        another kind in the kind families and the token and cost counters only."""
        labels = (result.endpoint, result.provider, result.model, self.location)
        if result.stamp_source is not None:
            self._stamps[result.stamp_source].inc()
        if result.endpoint in self._kinded:
            self._observe_kind(labels, result)
        if result.kind != DEFAULT_KIND:
            if result.outcome is not Outcome.CANCELLED:
                self._count_usage(labels, result)
            return
        self.probes.labels(*labels, result.outcome.value).inc()
        self.last_probe.labels(*labels).set(result.started_at.timestamp())
        if result.outcome is Outcome.CANCELLED:
            return
        self.success.labels(*labels).set(1 if result.ok else 0)
        if result.ok:
            if result.ttft_seconds is not None:
                self.ttft.labels(*labels).observe(result.ttft_seconds)
            if result.answer_ttft_seconds is not None:
                self.answer_ttft.labels(*labels).observe(result.answer_ttft_seconds)
            if result.output_tokens_per_second is not None:
                self.speed.labels(*labels).observe(result.output_tokens_per_second)
        if result.total_seconds is not None:
            self.duration.labels(*labels).observe(result.total_seconds)
        if result.connect_seconds and not result.connection_reused:
            self.connect.labels(*labels).observe(result.connect_seconds)
        self._count_usage(labels, result)

    def _count_usage(self, labels: tuple[str, str, str, str], result: ProbeResult) -> None:
        if result.output_tokens is not None:
            self.output_tokens.labels(*labels).inc(result.output_tokens)
        if result.input_tokens is not None:
            self.input_tokens.labels(*labels).inc(result.input_tokens)
        if result.cost_usd is not None:
            self.cost.labels(*labels).inc(result.cost_usd)

    def _observe_kind(self, labels: tuple[str, str, str, str], result: ProbeResult) -> None:
        kind = (*labels, result.kind)
        self.kind_probes.labels(*kind, result.outcome.value).inc()
        if result.ok and result.ttft_seconds is not None:
            self.kind_ttft.labels(*kind).observe(result.ttft_seconds)
        if result.input_tokens is not None:
            self.kind_input_tokens.labels(*kind).set(result.input_tokens)


def _info(endpoint: Endpoint) -> tuple[str, str, str]:
    return (endpoint.region or "", endpoint.deployment or "", endpoint.api_version or "")
