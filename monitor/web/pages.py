"""What each page shows, read from the daemon's view: the values the templates draw.

Every number comes from the same place as the API's: a model's card is the ``ModelLive`` that
``/api/v1/models/{id}/profile`` serves, an endpoint's state the ``EndpointState`` of
``/api/v1/endpoints``. What changes once per window (the bars, the charts) is drawn once per
published window and kept in a ``WindowCache``; what changes with every probe (states, last
errors) is read at each request, which is cheap: the daemon keeps it in memory.

These functions read the store, so they run on a worker thread, never on an event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import ceil
from typing import Any

from markupsafe import Markup

from monitor.config import Config, Endpoint, ModelSpec
from monitor.core.incidents import Incident
from monitor.core.outcomes import Outcome
from monitor.core.profile import EndpointLive, ModelLive, model_live
from monitor.core.result import ProbeResult
from monitor.core.rollup import EndpointRollup
from monitor.core.spend import BudgetState
from monitor.core.status import Status, endpoint_state
from monitor.reports.text import every, fact_rows, failures_text, millis, percent, span_label
from monitor.service.aggregator import last_complete_window, settle_seconds, window_seconds
from monitor.service.shapes import EndpointState
from monitor.service.view import MonitorView
from monitor.web.history import (
    MAX_BAR_CELLS,
    MAX_CHART_POINTS,
    Caches,
    Cell,
    Span,
    by_endpoint,
    cells,
    span,
)
from monitor.web.svg import MAX_SERIES, Chart, Series, line_chart, sparkline, uptime_bar

#: Endpoints on one page of the status page and rows of a model page's table.
PAGE_SIZE = 100
#: The ranges a model's or an endpoint's charts cover, by their name in ``?range=``.
RANGES = {"1h": 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
#: Probes on an endpoint's page.
RECENT_PROBES = 50
#: Windows in an endpoint's table of windows.
RECENT_WINDOWS = 48
#: Incidents on a model's or an endpoint's page: the newest, of the last days.
RECENT_INCIDENTS = 20
INCIDENT_DAYS = 30
#: The page refreshes itself every probe interval, but not more often or less often than this.
REFRESH_BOUNDS = (30, 300)
#: Failing first: the order of the states on the status page.
STATE_ORDER: dict[Status, int] = {"down": 0, "degraded": 1, "unknown": 2, "up": 3}
#: An error longer than this is cut on the status page (the endpoint's page shows it whole).
SHORT_ERROR = 160


class PageNotFound(Exception):
    """A page of something that does not exist: a 404 page with ``message``."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


class BadParameter(Exception):
    """A query parameter the page cannot use: a 400 page with ``message``."""


@dataclass(frozen=True, slots=True)
class Frame:
    """The moment a page is drawn at and the windows it shows."""

    config: Config
    now: datetime
    #: The rollup window in seconds.
    window: int
    #: The start of the last complete window, by the clock.
    last_window: datetime
    #: Which published data the page is drawn from: the cache's version.
    version: tuple[object, ...]

    @property
    def end(self) -> datetime:
        """The end of the last complete window: where the bars and charts end."""
        return self.last_window + timedelta(seconds=self.window)

    @property
    def refresh_seconds(self) -> int:
        """How often the page's script fetches the page again."""
        intervals = [e.probe.interval for e in self.config.endpoints]
        interval = min(intervals, default=self.config.schema.probe.interval)
        low, high = REFRESH_BOUNDS
        return int(min(high, max(low, ceil(interval))))

    @property
    def uptime_span(self) -> str:
        """``24h``: the span of the profile's uptime."""
        return span_label(self.config.schema.profile.uptime_window)


def frame(view: MonitorView, now: datetime) -> Frame:
    """The frame of a page drawn at ``now``."""
    config = view.config
    window = window_seconds(config)
    last = last_complete_window(now, window, settle_seconds(config))
    current = view.snapshot()
    # A new snapshot (the window job ran) or a new config (a reload) draws everything anew.
    # The config itself, not its id: the cache holds it, so no later config can take its id,
    # and comparing it with itself is an identity check.
    version = (config, last, current.refreshed_at if current else None)
    return Frame(config, now, window, last, version)


# --- shared parts ------------------------------------------------------------------------------


def model_lives(view: MonitorView, f: Frame) -> dict[str, ModelLive]:
    """Each model's live numbers, as ``/api/v1/models/{id}/profile`` serves them."""
    current = view.snapshot()
    profiles = current.profiles if current else {}
    lives = {}
    for spec in f.config.models:
        live = profiles.get(spec.id)
        lives[spec.id] = live if live is not None else _empty_live(view, f, spec)
    return lives


def _empty_live(view: MonitorView, f: Frame, spec: ModelSpec) -> ModelLive:
    """Before the first window job: null numbers, the endpoints known (as the API does)."""
    last = {k: v.started_at for k, v in view.last_probes().items()}
    return model_live(
        spec,
        f.config.endpoints,
        (),
        last_window_start=None,
        uptime_since=f.now,
        refreshed_at=None,
        last_probe_at=last,
        rate_limited_is_down=f.config.schema.rollup.rate_limited_is_down,
    )


def endpoint_states(
    view: MonitorView, f: Frame, endpoints: Sequence[Endpoint]
) -> dict[str, EndpointState]:
    """Each endpoint's state, as ``/api/v1/endpoints`` serves it."""
    current = view.snapshot()
    rollups = {r.endpoint: r for r in current.rollups} if current else {}
    last = view.last_probes()
    rate_limited_is_down = f.config.schema.rollup.rate_limited_is_down
    return {
        e.id: EndpointState.of(
            e,
            last.get(e.id),
            rollups.get(e.id),
            now=f.now,
            rate_limited_is_down=rate_limited_is_down,
        )
        for e in endpoints
    }


def states_now(view: MonitorView, f: Frame) -> dict[str, Status]:
    """Each endpoint's ``state`` alone (what ``endpoint_states`` gives, without building the
    rest of each endpoint's shape): what the status page sorts by."""
    current = view.snapshot()
    rollups = {r.endpoint: r for r in current.rollups} if current else {}
    last = view.last_probes()
    rate_limited_is_down = f.config.schema.rollup.rate_limited_is_down
    return {
        e.id: endpoint_state(
            rollups.get(e.id),
            last.get(e.id),
            now=f.now,
            interval=e.probe.interval,
            rate_limited_is_down=rate_limited_is_down,
        )
        for e in f.config.endpoints
    }


def failure_text(state: EndpointState) -> str | None:
    """Why an endpoint that is not up is failing: its last probe's error, or its last window's
    failures; None when it is up or nothing says."""
    if state.state == "up":
        return None
    probe = state.last_probe
    if probe is not None and probe.outcome is not Outcome.SUCCESS:
        return f"{probe.outcome.value}: {probe.error}" if probe.error else probe.outcome.value
    window = state.last_window
    if window is not None and window.failures_by_outcome:
        return "last window: " + failures_text(window.failures_by_outcome)
    return None


def short(text: str | None, limit: int = SHORT_ERROR) -> str | None:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Strip:
    """An endpoint's last 24 hours as the status page draws them: uptime bar and TTFT line."""

    bar: Markup
    spark: Markup


def bar_span(f: Frame) -> Span:
    """The cells of the uptime bars: the 24 hours before the end of the last complete window."""
    return span(f.end, 86_400, f.window, MAX_BAR_CELLS)


def strips(view: MonitorView, f: Frame, cache: Caches, ids: Sequence[str]) -> dict[str, Strip]:
    """The strips of the endpoints ``ids``; those not kept for this window are drawn from one
    store read."""
    layout = bar_span(f)

    keys: dict[Hashable, str] = {("strip", e): e for e in ids}

    def make(missing: list[Hashable]) -> dict[Hashable, Any]:
        wanted = [keys[key] for key in missing]
        points = by_endpoint(
            view.store.window_points(
                window_seconds=f.window,
                since=layout.since,
                until=layout.until,
                endpoints=wanted,
                rate_limited_is_down=f.config.schema.rollup.rate_limited_is_down,
            )
        )
        return {("strip", e): _strip(e, cells(points.get(e, ()), layout), layout) for e in wanted}

    found = cache.strips.get_many(f.version, list(keys), make)
    return {e: found[("strip", e)] for e in ids}


def _strip(endpoint: str, row: list[Cell], layout: Span) -> Strip:
    words = "over the last 24 hours, " + (
        f"one cell per window of {every(layout.size)}"
        if layout.windows_per_cell == 1
        else f"one cell per {every(layout.size)} ({layout.windows_per_cell} windows)"
    )
    return Strip(
        bar=uptime_bar(row, layout.windows_per_cell, endpoint=endpoint, span_words=words),
        spark=sparkline(
            [c.ttft_p50 for c in row],
            label="ttft-spark",
            unit=millis,
            what="TTFT p50 per cell over the last 24 hours",
        ),
    )


# --- the status page ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One endpoint's line on the status page or a model page."""

    endpoint: Endpoint
    state: EndpointState
    line: EndpointLive | None
    strip: Strip | None
    failure: str | None


@dataclass(frozen=True, slots=True)
class Group:
    """A model on one page of the status page, with its endpoints on that page."""

    spec: ModelSpec
    live: ModelLive
    rows: tuple[Row, ...]
    #: The model's endpoints on earlier pages (its group began there).
    continued: bool
    endpoints: int


@dataclass(frozen=True, slots=True)
class Paging:
    """Which page of how many, and the pages' links."""

    page: int
    pages: int
    items: int

    def numbers(self) -> list[int | None]:
        """The page numbers to link, with None where some are left out (``1 … 4 5 6 … 10``)."""
        shown = sorted(
            {1, self.pages, *range(self.page - 2, self.page + 3)} & set(range(1, self.pages + 1))
        )
        out: list[int | None] = []
        for n in shown:
            if out and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        return out


@dataclass(frozen=True, slots=True)
class StatusPage:
    frame: Frame
    groups: tuple[Group, ...]
    counts: dict[Status, int]
    paging: Paging
    models: int
    endpoints: int
    #: The last check of the probes' spend against the budget (None without a budget).
    budget: BudgetState | None = None
    #: The configured endpoints' open incidents, newest first.
    open_incidents: tuple[Incident, ...] = ()


def page_number(text: str | None) -> int:
    """``?page=`` as a number from 1."""
    if text is None or text == "":
        return 1
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise BadParameter(f"page must be a whole number from 1, not {text!r}")
    return int(text)


def status_page(view: MonitorView, f: Frame, cache: Caches, page: int) -> StatusPage:
    """Every model with its card and every endpoint with its state, failing first, a page of
    ``PAGE_SIZE`` endpoints at a time (a model's endpoints stay together)."""
    config = f.config
    current = states_now(view, f)
    lives = model_lives(view, f)
    order = {e.id: i for i, e in enumerate(config.endpoints)}
    by_model: dict[str, list[Endpoint]] = {m.id: [] for m in config.models}
    for e in config.endpoints:
        by_model.setdefault(e.model.id, []).append(e)

    def rank(e: Endpoint) -> tuple[int, int]:
        return STATE_ORDER[current[e.id]], order[e.id]

    for members in by_model.values():
        members.sort(key=rank)
    models = sorted(
        config.models,
        key=lambda m: (min((rank(e)[0] for e in by_model[m.id]), default=len(STATE_ORDER)),),
    )
    # A model without endpoints takes one place, so that it is shown too.
    items: list[tuple[ModelSpec, Endpoint | None]] = []
    for m in models:
        items.extend([(m, e) for e in by_model[m.id]] or [(m, None)])
    pages = max(1, ceil(len(items) / PAGE_SIZE))
    if page > pages:
        raise PageNotFound("No such page", f"There is no page {page}: the status has {pages}.")
    chosen = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    shown = [item for _m, item in chosen if item is not None]
    states = endpoint_states(view, f, shown)
    drawn = strips(view, f, cache, [e.id for e in shown])
    lines = {line.endpoint: line for live in lives.values() for line in live.endpoints}
    specs = {m.id: m for m in config.models}
    rows: dict[str, list[Row]] = {}
    for spec, item in chosen:
        listed = rows.setdefault(spec.id, [])
        if item is not None:
            state = states[item.id]
            failure = short(failure_text(state))
            listed.append(Row(item, state, lines.get(item.id), drawn[item.id], failure))
    groups = []
    for model_id, listed in rows.items():
        members = by_model[model_id]
        continued = bool(listed) and listed[0].endpoint is not members[0]
        groups.append(
            Group(specs[model_id], lives[model_id], tuple(listed), continued, len(members))
        )
    counts: dict[Status, int] = dict.fromkeys(STATE_ORDER, 0)
    for status in current.values():
        counts[status] += 1
    return StatusPage(
        f,
        tuple(groups),
        counts,
        Paging(page, pages, len(items)),
        len(config.models),
        len(config.endpoints),
        budget=view.budget(),
        open_incidents=tuple(
            i for i in view.store.incidents(open_only=True) if i.endpoint in order
        ),
    )


# --- charts ------------------------------------------------------------------------------------


def range_seconds(text: str | None) -> tuple[str, int]:
    """``?range=`` (default ``24h``) and its length."""
    name = text or "24h"
    if name not in RANGES:
        raise BadParameter(f"range must be one of {', '.join(RANGES)}, not {name!r}")
    return name, RANGES[name]


def _charts(
    view: MonitorView,
    f: Frame,
    endpoints: Sequence[Endpoint],
    seconds: int,
    hidden: int,
    prefix: str,
) -> Markup:
    """TTFT p50 and p95, output speed p50 and uptime of ``endpoints`` over the ``seconds``
    before the end of the last complete window, one line per endpoint."""
    layout = span(f.end, seconds, f.window, MAX_CHART_POINTS)
    points = by_endpoint(
        view.store.window_points(
            window_seconds=f.window,
            since=layout.since,
            until=layout.until,
            endpoints=[e.id for e in endpoints],
            rate_limited_is_down=f.config.schema.rollup.rate_limited_is_down,
        )
    )
    rows = {e.id: cells(points.get(e.id, ()), layout) for e in endpoints}
    size = timedelta(seconds=layout.size)
    xs = [layout.since + size * i + size / 2 for i in range(layout.count)]
    if layout.windows_per_cell == 1:
        note = f"One point per window of {every(f.window)}."
    else:
        note = (
            f"One point per {every(layout.size)} ({layout.windows_per_cell} windows of "
            f"{every(f.window)}): uptime is exact over the probes of its windows; TTFT and "
            "output speed are the median of its windows' p50 (p95 for TTFT p95)."
        )

    def ms(v: float) -> str:
        return f"{v:,.0f} ms"

    def rate(v: float) -> str:
        return f"{v:,.0f} tok/s"

    def share(v: float) -> str:
        return percent(v / 100)

    def seconds_to_ms(x: float | None) -> float | None:
        return None if x is None else x * 1000

    def ratio_to_percent(x: float | None) -> float | None:
        return None if x is None else x * 100

    charts: list[tuple[Chart, Callable[[Cell], float | None]]] = [
        (Chart("ttft_p50", "TTFT p50", "ms", ms), lambda c: seconds_to_ms(c.ttft_p50)),
        (Chart("ttft_p95", "TTFT p95", "ms", ms), lambda c: seconds_to_ms(c.ttft_p95)),
        (Chart("speed_p50", "Output speed p50", "tok/s", rate), lambda c: c.speed_p50),
        (Chart("uptime", "Uptime", "%", share, "percent"), lambda c: ratio_to_percent(c.uptime)),
    ]
    out = []
    for chart, value in charts:
        series = [Series(e.id, e.id, tuple(value(c) for c in rows[e.id])) for e in endpoints]
        out.append(
            line_chart(
                chart,
                xs=xs,
                since=layout.since,
                until=layout.until,
                series=series,
                note=note,
                chart_id=f"{prefix}-{chart.metric}",
                hidden=hidden,
            )
        )
    return Markup("".join(out))


# --- the model page ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelPage:
    frame: Frame
    spec: ModelSpec
    live: ModelLive
    facts: list[tuple[str, str]]
    rows: tuple[Row, ...]
    paging: Paging
    range: str
    charts: Markup
    incidents: tuple[Incident, ...] = ()
    incident_days: int = INCIDENT_DAYS


def find_model(f: Frame, model_id: str) -> ModelSpec:
    """The configured model, or a 404 page naming the known ones."""
    spec = f.config.model(model_id)
    if spec is None:
        known = ", ".join(m.id for m in f.config.models) or "none configured"
        raise PageNotFound("Unknown model", f"No model {model_id!r} is configured. Known: {known}.")
    return spec


def model_card(view: MonitorView, f: Frame, model_id: str) -> tuple[ModelSpec, ModelLive]:
    """The model and its live numbers (the card alone)."""
    spec = find_model(f, model_id)
    return spec, model_lives(view, f)[spec.id]


def model_page(
    view: MonitorView,
    f: Frame,
    cache: Caches,
    model_id: str,
    range_name: str,
    seconds: int,
    page: int,
) -> ModelPage:
    """The model page: its card, facts, endpoints side by side and charts over the range."""
    spec, live = model_card(view, f, model_id)
    mine = [e for e in f.config.endpoints if e.model.id == spec.id]
    pages = max(1, ceil(len(mine) / PAGE_SIZE))
    if page > pages:
        raise PageNotFound("No such page", f"There is no page {page}: {spec.id} has {pages}.")
    chosen = mine[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    states = endpoint_states(view, f, chosen)
    lines = {line.endpoint: line for line in live.endpoints}
    rows = tuple(
        Row(e, states[e.id], lines.get(e.id), None, short(failure_text(states[e.id])))
        for e in chosen
    )
    drawn = mine[:MAX_SERIES]
    charts = cache.charts.get(
        f.version,
        ("model-charts", spec.id, range_name),
        lambda: _charts(view, f, drawn, seconds, len(mine) - len(drawn), "model"),
    )
    incidents = view.store.incidents(
        model=spec.id, since=f.now - timedelta(days=INCIDENT_DAYS), limit=RECENT_INCIDENTS
    )
    configured = {e.id for e in mine}
    return ModelPage(
        f,
        spec,
        live,
        fact_rows(spec),
        rows,
        Paging(page, pages, len(mine)),
        range_name,
        charts,
        tuple(i for i in incidents if i.endpoint in configured),
    )


# --- the endpoint page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowLine:
    """A row of an endpoint's table of windows."""

    start: datetime
    end: datetime
    rollup: EndpointRollup


@dataclass(frozen=True, slots=True)
class EndpointPage:
    frame: Frame
    endpoint: Endpoint
    state: EndpointState
    line: EndpointLive | None
    failure: str | None
    strip: Strip
    range: str
    charts: Markup
    probes: list[ProbeResult]
    windows: list[WindowLine]
    incidents: list[Incident] = field(default_factory=list)
    incident_days: int = INCIDENT_DAYS


def find_endpoint(f: Frame, endpoint_id: str) -> Endpoint:
    """The configured endpoint, or a 404 page naming the known ones."""
    for e in f.config.endpoints:
        if e.id == endpoint_id:
            return e
    known = [e.id for e in f.config.endpoints]
    listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
    raise PageNotFound(
        "Unknown endpoint",
        f"No endpoint {endpoint_id!r} is configured. Known: {listed or 'none configured'}.",
    )


def endpoint_page(
    view: MonitorView, f: Frame, cache: Caches, endpoint_id: str, range_name: str, seconds: int
) -> EndpointPage:
    """An endpoint's state, bar, charts, recent probes and windows."""
    endpoint = find_endpoint(f, endpoint_id)
    state = endpoint_states(view, f, [endpoint])[endpoint.id]
    live = model_lives(view, f).get(endpoint.model.id)
    line = next((x for x in live.endpoints if x.endpoint == endpoint.id), None) if live else None
    strip = strips(view, f, cache, [endpoint.id])[endpoint.id]
    charts = cache.charts.get(
        f.version,
        ("endpoint-charts", endpoint.id, range_name),
        lambda: _charts(view, f, [endpoint], seconds, 0, "endpoint"),
    )
    probes = view.store.probes(endpoint=endpoint.id, limit=RECENT_PROBES)
    step = timedelta(seconds=f.window)
    rollups = view.store.rollups(
        window_seconds=f.window,
        since=f.end - RECENT_WINDOWS * step,
        until=f.end,
        endpoint=endpoint.id,
    )
    windows = [WindowLine(r.window_start, r.window_end, r) for r in reversed(rollups)]
    incidents = view.store.incidents(
        endpoint=endpoint.id, since=f.now - timedelta(days=INCIDENT_DAYS), limit=RECENT_INCIDENTS
    )
    return EndpointPage(
        f,
        endpoint,
        state,
        line,
        failure_text(state),
        strip,
        range_name,
        charts,
        probes,
        windows,
        incidents,
    )
