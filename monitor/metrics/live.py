"""Window and model families, made from what the rollup job last published.

They are not kept as series: ``LiveCollector`` makes them from the latest ``LiveState`` when it
is scraped, so they always describe the last complete window and vanish with an endpoint that
was removed. The state changes once a window (and when an incident opens or closes); its text
is made when it is published, in the formats scraped before, or else by the first scrape that
sees it, and served to the next scrapes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.samples import Sample

from monitor.config import ModelSpec
from monitor.core.profile import ModelLive
from monitor.core.rollup import EndpointRollup
from monitor.metrics import names
from monitor.metrics.families import Exposed
from monitor.metrics.names import Spec
from monitor.metrics.text import Numbers, check_spec, headers, label_text, number_text

Pairs = tuple[tuple[str, str], ...]
#: A sample: its name, its labels as (name, value) pairs, its value.
LiveSample = tuple[str, Pairs, float]

for _spec in names.LIVE_FAMILIES:
    check_spec(_spec)
_HEADERS = [headers(spec) for spec in names.LIVE_FAMILIES]


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the rollup job last published: the last complete window and the model profiles;
    and what the incident job last judged: whether each endpoint has an open incident."""

    rollups: tuple[EndpointRollup, ...] = ()
    models: tuple[ModelSpec, ...] = ()
    profiles: tuple[ModelLive, ...] = ()
    #: (endpoint, provider, model, open) of every judged endpoint.
    incidents: tuple[tuple[str, str, str, bool], ...] = ()


class LiveCollector(Exposed):
    """The window and model families of the current ``LiveState``."""

    def __init__(self) -> None:
        self._state = LiveState()
        self._mutex = threading.Lock()
        self._publishing = threading.Lock()
        #: Exposition text of a state, by format (True: OpenMetrics).
        self._texts: dict[bool, tuple[LiveState, str]] = {}
        #: Label text by label pairs, of the last state rendered (the next one has the same).
        self._labels: dict[Pairs, str] = {}

    def publish(self, state: LiveState, pause: Callable[[], object] = lambda: None) -> None:
        """Show ``state`` from now on. Its text is made first, in each format scraped before,
        on the publisher's thread (at 5,000 endpoints it is 55,000 lines, about 130 ms on
        machine B), while scrapes still get the previous state's; then both change at once.
        ``pause`` is called before each family's lines are made (the daemon waits there
        while a scrape is being written)."""
        with self._publishing:  # one publisher at a time: the last one published shows
            with self._mutex:
                scraped = list(self._texts)
            made = {openmetrics: (state, self._make(state, openmetrics, pause))
                    for openmetrics in scraped}  # fmt: skip
            with self._mutex:
                self._state = state
                self._texts.update(made)

    def _current(self) -> LiveState:
        with self._mutex:
            return self._state

    def collect(self) -> Iterable[Metric]:
        """The families as prometheus_client metric families."""
        families: list[Metric] = []
        for spec, samples in zip(names.LIVE_FAMILIES, live_samples(self._current()), strict=True):
            family = _family(spec)
            family.samples.extend(Sample(n, dict(pairs), value) for n, pairs, value in samples)
            families.append(family)
        return families

    def describe(self) -> Iterable[Metric]:
        """The families without samples."""
        return [_family(spec) for spec in names.LIVE_FAMILIES]

    def render(self, out: list[str], openmetrics: bool, number: Numbers) -> None:
        """Append the families' text."""
        out.append(self.text(openmetrics))

    def text(self, openmetrics: bool) -> str:
        """The families' exposition text."""
        with self._mutex:
            state = self._state
            cached = self._texts.get(openmetrics)
        if cached is not None and cached[0] is state:
            return cached[1]
        text = self._make(state, openmetrics)
        with self._mutex:
            self._texts[openmetrics] = (state, text)
        return text

    def _make(
        self, state: LiveState, openmetrics: bool, pause: Callable[[], object] = lambda: None
    ) -> str:
        known = self._labels
        labels: dict[Pairs, str] = {}
        out: list[str] = []
        for header, samples in zip(_HEADERS, live_samples(state), strict=True):
            pause()
            out.append(header[openmetrics])
            for name, pairs, value in samples:
                text = labels.get(pairs)
                if text is None:
                    text = labels[pairs] = known.get(pairs) or label_text(pairs)
                out.append(f"{name}{text} {number_text(value)}\n")
        self._labels = labels  # one assignment: the label texts of the latest state made
        return "".join(out)


def _family(spec: Spec) -> Metric:
    if spec.kind == "summary":
        return SummaryMetricFamily(spec.name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)


def live_samples(state: LiveState) -> list[list[LiveSample]]:
    """The samples of each family of ``names.LIVE_FAMILIES``, in that order."""
    incidents: list[LiveSample] = [
        (names.INCIDENT_OPEN.name, (("endpoint", e), ("provider", p), ("model", m)), int(is_open))
        for e, p, m, is_open in state.incidents
    ]
    return [
        *_window_samples(state.rollups),
        *_model_samples(state.models, state.profiles),
        incidents,
    ]


def _window_samples(rollups: Sequence[EndpointRollup]) -> list[list[LiveSample]]:
    uptime: list[LiveSample] = []
    ttft: list[LiveSample] = []
    speed: list[LiveSample] = []
    probes: list[LiveSample] = []
    for rollup in rollups:
        pairs = (("endpoint", rollup.endpoint), ("provider", rollup.provider),
                 ("model", rollup.model))  # fmt: skip
        probes.append((names.WINDOW_PROBES.name, pairs, rollup.probes))
        if rollup.uptime_ratio is not None:
            uptime.append((names.WINDOW_UPTIME.name, pairs, rollup.uptime_ratio))
        for spec, dist, samples in (
            (names.WINDOW_TTFT, rollup.ttft, ttft),
            (names.WINDOW_SPEED, rollup.speed, speed),
        ):
            if not dist.count or dist.mean is None:
                continue
            for quantile, value in (("0.5", dist.p50), ("0.95", dist.p95)):
                if value is not None:
                    samples.append((spec.name, (*pairs, ("quantile", quantile)), value))
            samples.append((f"{spec.name}_count", pairs, dist.count))
            samples.append((f"{spec.name}_sum", pairs, dist.mean * dist.count))
    return [uptime, ttft, speed, probes]


def _model_samples(
    models: Sequence[ModelSpec], profiles: Sequence[ModelLive]
) -> list[list[LiveSample]]:
    info: list[LiveSample] = []
    price: list[LiveSample] = []
    context: list[LiveSample] = []
    max_output: list[LiveSample] = []
    for model in models:
        facts = (
            ("model", model.id),
            ("name", model.name or model.id),
            ("creator", model.creator or ""),
            ("release_date", model.release_date.isoformat() if model.release_date else ""),
            ("modality", model.modality or ""),
        )
        info.append((names.MODEL_INFO.name, facts, 1))
        pricing = model.pricing
        if pricing is not None:
            for token_type, per_million in (
                ("input", pricing.input_per_million),
                ("output", pricing.output_per_million),
                ("cached_input", pricing.cached_input_per_million),
            ):
                if per_million is not None:
                    priced = (("model", model.id), ("token_type", token_type))
                    price.append((names.MODEL_PRICE.name, priced, per_million))
        if model.context_window is not None:
            context.append((names.MODEL_CONTEXT.name, (("model", model.id),), model.context_window))
        if model.max_output_tokens is not None:
            max_output.append(
                (names.MODEL_MAX_OUTPUT.name, (("model", model.id),), model.max_output_tokens)
            )
    uptime: list[LiveSample] = []
    best_ttft: list[LiveSample] = []
    best_speed: list[LiveSample] = []
    total: list[LiveSample] = []
    active: list[LiveSample] = []
    for live in profiles:
        model_pairs = (("model", live.model),)
        total.append((names.MODEL_ENDPOINTS.name, model_pairs, live.total_endpoints))
        active.append((names.MODEL_ENDPOINTS_ACTIVE.name, model_pairs, live.active_endpoints))
        for spec, value, samples in (
            (names.MODEL_UPTIME, live.avg_uptime_ratio, uptime),
            (names.MODEL_BEST_TTFT, live.best_ttft_seconds, best_ttft),
            (names.MODEL_BEST_SPEED, live.best_output_tokens_per_second, best_speed),
        ):
            if value is not None:
                samples.append((spec.name, model_pairs, value))
    return [info, price, context, max_output, uptime, best_ttft, best_speed, total, active]
