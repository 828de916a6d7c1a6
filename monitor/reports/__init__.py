"""Rollup reports that people read: a ``Report`` value built from the store, and its renderers.

A report covers whole, complete windows: the windows whose start lies in ``[since, until)``
once ``since`` is aligned down and ``until`` up to window boundaries, never past the end of the
last complete window (an unfinished window's numbers would still change). By default it covers
the last complete window. It holds, for each model:

- the live card as the profile showed it at the end of the range (avg uptime over
  ``profile.uptime_window``, best TTFT and throughput of the last window, active/total
  endpoints, providers, prices);
- each endpoint's summary over the whole range, computed exactly from the raw probes of the
  range (``source: "probes"``). When retention has deleted raw probes that the stored rollups
  still count, the counts are summed from the rollups instead and the percentiles are unknown
  (``source: "rollups"``);

and, for each window of the range that has stored rollups, each endpoint's rollup row.

An endpoint with no stored probe in the range, or no rollup in a window (the monitor was not
running, or the endpoint was not configured yet), has no data there: the renderers say "no
data" for it rather than "0 probes", the JSON lists it under ``no_data`` instead of among the
endpoints with numbers, and the CSV has no row for it. A window in which no endpoint has a
rollup is not listed at all.

Renderers: ``render_table`` (a terminal), ``render_markdown``, ``render_json`` (the structure of
``report_json``, documented there) and ``render_csv`` (one row per stored rollup: endpoint and
window).
``write_window_report`` writes the Markdown and JSON reports of a finished window atomically.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rich.cells import cell_len
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from monitor.config import PROVIDER_DISPLAY_NAMES, Config, Endpoint, ModelSpec
from monitor.core.errors import UnknownModelError
from monitor.core.outcomes import Outcome, uptime_ratio
from monitor.core.profile import ModelLive, model_live
from monitor.core.result import format_utc
from monitor.core.rollup import (
    EndpointIdentity,
    EndpointRollup,
    ProbeRow,
    compute_rollup,
    window_start,
)
from monitor.core.timeparse import describe_window, iso_utc
from monitor.service.aggregator import (
    Snapshot,
    counts_of_model,
    last_complete_window,
    last_window_since,
    settle_seconds,
    window_seconds,
)
from monitor.service.aggregator import snapshot as compute_snapshot
from monitor.store import Store

#: Version of the JSON structure of ``report_json``; bumped on any incompatible change.
REPORT_VERSION = 1
#: Outcomes other than success, in a fixed order (CSV columns, failure lists).
FAILURE_OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome if o is not Outcome.SUCCESS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointSummary:
    """One endpoint over a report's whole range."""

    endpoint: str
    model: str
    provider: str
    region: str | None
    probes: int
    successes: int
    uptime_ratio: float | None
    ttft_p50_seconds: float | None
    ttft_p95_seconds: float | None
    output_tokens_per_second_p50: float | None
    failures_by_outcome: Mapping[str, int]
    output_tokens: int
    input_tokens: int
    cost_usd: float
    #: ``probes``: exact, from the raw probes; ``rollups``: counts summed from stored rollups
    #: because raw probes are gone, percentiles unknown.
    source: Literal["probes", "rollups"]

    def to_json_dict(self) -> dict[str, Any]:
        """The endpoint object of the report JSON."""
        return {
            "endpoint": self.endpoint,
            "model": self.model,
            "provider": self.provider,
            "region": self.region,
            "probes": self.probes,
            "successes": self.successes,
            "uptime_ratio": self.uptime_ratio,
            "ttft_p50_seconds": self.ttft_p50_seconds,
            "ttft_p95_seconds": self.ttft_p95_seconds,
            "output_tokens_per_second_p50": self.output_tokens_per_second_p50,
            "failures_by_outcome": dict(self.failures_by_outcome),
            "output_tokens": self.output_tokens,
            "input_tokens": self.input_tokens,
            "cost_usd": self.cost_usd,
            "source": self.source,
        }

    @property
    def has_data(self) -> bool:
        """Whether any probe of the endpoint is known in the range (else: no data)."""
        return self.probes > 0


@dataclass(frozen=True, slots=True)
class ModelReport:
    """One model: its facts, its live card and its endpoints' summaries."""

    spec: ModelSpec
    live: ModelLive
    endpoints: tuple[EndpointSummary, ...]


@dataclass(frozen=True, slots=True)
class WindowReport:
    """One window's stored rollups, and the reported endpoints that have none in it."""

    window_start: datetime
    window_seconds: int
    rollups: tuple[EndpointRollup, ...]
    #: The reported endpoints, in configuration order.
    endpoints: tuple[str, ...] = ()

    @property
    def window_end(self) -> datetime:
        """End of the window (exclusive)."""
        return self.window_start + timedelta(seconds=self.window_seconds)

    @property
    def no_data(self) -> tuple[str, ...]:
        """The reported endpoints without a rollup in this window (no probe was stored)."""
        found = {r.endpoint for r in self.rollups}
        return tuple(e for e in self.endpoints if e not in found)

    def rows(self) -> list[tuple[str, EndpointRollup | None]]:
        """Each reported endpoint with its rollup, or None where it has no data."""
        found = {r.endpoint: r for r in self.rollups}
        return [(e, found.get(e)) for e in self.endpoints]


@dataclass(frozen=True, slots=True)
class Report:
    """A rollup report over ``[since, until)`` in windows of ``window_seconds``."""

    generated_at: datetime
    since: datetime
    until: datetime
    window_seconds: int
    models: tuple[ModelReport, ...]
    windows: tuple[WindowReport, ...]

    @property
    def has_data(self) -> bool:
        """Whether any endpoint has a probe in the range."""
        return any(s.probes for m in self.models for s in m.endpoints)

    @property
    def endpoints(self) -> tuple[EndpointSummary, ...]:
        """Every endpoint summary, model by model."""
        return tuple(s for m in self.models for s in m.endpoints)


# --- building ----------------------------------------------------------------------------------


def window_is_known(config: Config, store: Store, seconds: int) -> bool:
    """Whether ``seconds`` is the configured rollup window or one the store holds rollups of."""
    if seconds == window_seconds(config):
        return True
    if seconds > 86_400 or 86_400 % seconds:
        return False  # every configured window divides a day, so none was ever stored
    far_future = datetime.now(UTC) + timedelta(days=366)
    return bool(store.rollup_windows(seconds, _EPOCH - timedelta(days=365 * 100), far_future))


def report_range(
    config: Config,
    now: datetime,
    window: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The aligned ``[start, end)`` a report covers (see the module docstring); may be empty."""
    last_end = last_complete_window(now, window, settle_seconds(config)) + timedelta(seconds=window)
    end = last_end
    if until is not None and until < last_end:
        end = window_start(until, window)
        if end < until:
            end += timedelta(seconds=window)
    start = end - timedelta(seconds=window) if since is None else window_start(since, window)
    return min(start, end), end


def build_report(
    config: Config,
    store: Store,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    window: int | None = None,
    model: str | None = None,
) -> Report:
    """The report of ``model`` (default every model) over the complete windows of the range."""
    if model is not None and config.model(model) is None:
        raise UnknownModelError(unknown_model_message(config, model))
    window = window or window_seconds(config)
    start, end = report_range(config, now, window, since, until)
    specs = [m for m in config.models if model is None or m.id == model]
    endpoints = [e for e in config.endpoints if model is None or e.model.id == model]
    configured = {e.id for e in endpoints}
    uptime_since = end - timedelta(seconds=config.schema.profile.uptime_window)
    last_window = end - timedelta(seconds=window)
    # Whole rollups of the range and of the card's last window only; the card's uptime needs
    # just the outcome counts over the uptime window, summed by the store.
    stored = [
        r
        for r in store.rollups(
            window_seconds=window,
            since=min(start, last_window_since(last_window, uptime_since)),
            until=end,
            model=model,
        )
        if r.endpoint in configured
    ]
    uptime_counts = store.outcome_counts(
        window_seconds=window, since=uptime_since, until=end, model=model
    )
    in_range = [r for r in stored if r.window_start >= start]
    raw = store.probe_rows(start, end) if start < end else {}
    last_probe_at = store.last_probe_times()
    rate_limited_is_down = config.schema.rollup.rate_limited_is_down
    models = tuple(
        ModelReport(
            spec=spec,
            live=model_live(
                spec,
                config.endpoints,
                stored,
                last_window_start=last_window,
                uptime_since=uptime_since,
                refreshed_at=now,
                last_probe_at=last_probe_at,
                rate_limited_is_down=rate_limited_is_down,
                uptime_counts=counts_of_model(uptime_counts, spec.id),
            ),
            endpoints=tuple(
                summarize_endpoint(
                    e,
                    raw.get(e.id, []),
                    [r for r in in_range if r.endpoint == e.id],
                    start,
                    end,
                    rate_limited_is_down=rate_limited_is_down,
                    now=now,
                )
                for e in endpoints
                if e.model.id == spec.id
            ),
        )
        for spec in specs
    )
    return Report(
        generated_at=now,
        since=start,
        until=end,
        window_seconds=window,
        models=models,
        windows=_windows(in_range, endpoints, window),
    )


def model_profile(config: Config, store: Store, model: str, now: datetime) -> ModelLive:
    """The live profile of ``model`` at ``now`` (the ``profile`` command)."""
    if config.model(model) is None:
        raise UnknownModelError(unknown_model_message(config, model))
    return compute_snapshot(config, store, now).profiles[model]


def summarize_endpoint(
    endpoint: Endpoint,
    rows: Sequence[ProbeRow],
    rollups: Sequence[EndpointRollup],
    since: datetime,
    until: datetime,
    *,
    rate_limited_is_down: bool = True,
    now: datetime | None = None,
) -> EndpointSummary:
    """One endpoint over ``[since, until)``: exact from ``rows`` unless retention removed raw
    probes that ``rollups`` still count, then summed from ``rollups`` (percentiles unknown)."""
    identity = EndpointIdentity(endpoint.id, endpoint.model.id, endpoint.provider, endpoint.region)
    stored_probes = sum(r.probes for r in rollups)
    if len(rows) >= stored_probes:
        seconds = max(1, int((until - since).total_seconds()))
        total = compute_rollup(
            identity, rows, since, seconds, rate_limited_is_down=rate_limited_is_down, now=now
        )
        return EndpointSummary(
            endpoint=endpoint.id,
            model=endpoint.model.id,
            provider=endpoint.provider,
            region=endpoint.region,
            probes=total.probes,
            successes=total.successes,
            uptime_ratio=total.uptime_ratio,
            ttft_p50_seconds=total.ttft.p50,
            ttft_p95_seconds=total.ttft.p95,
            output_tokens_per_second_p50=total.speed.p50,
            failures_by_outcome=total.failures,
            output_tokens=total.output_tokens,
            input_tokens=total.input_tokens,
            cost_usd=total.cost_usd,
            source="probes",
        )
    counts: Counter[str] = Counter()
    for rollup in rollups:
        counts.update(rollup.outcomes)
    known = {Outcome(k): v for k, v in counts.items() if k in Outcome._value2member_map_}
    return EndpointSummary(
        endpoint=endpoint.id,
        model=endpoint.model.id,
        provider=endpoint.provider,
        region=endpoint.region,
        probes=stored_probes,
        successes=sum(r.successes for r in rollups),
        uptime_ratio=uptime_ratio(known, rate_limited_is_down=rate_limited_is_down),
        ttft_p50_seconds=None,
        ttft_p95_seconds=None,
        output_tokens_per_second_p50=None,
        failures_by_outcome={
            k: v for k, v in sorted(counts.items()) if k != Outcome.SUCCESS.value and v
        },
        output_tokens=sum(r.output_tokens for r in rollups),
        input_tokens=sum(r.input_tokens for r in rollups),
        cost_usd=math.fsum(r.cost_usd for r in rollups),
        source="rollups",
    )


def _windows(
    rollups: Sequence[EndpointRollup], endpoints: Sequence[Endpoint], window: int
) -> tuple[WindowReport, ...]:
    """The windows that have a stored rollup, each with its rollups in configuration order
    (an endpoint without one there has no data in it: nothing is made up for it)."""
    by_window: dict[datetime, dict[str, EndpointRollup]] = {}
    for rollup in rollups:
        by_window.setdefault(rollup.window_start, {})[rollup.endpoint] = rollup
    ids = tuple(e.id for e in endpoints)
    return tuple(
        WindowReport(
            start,
            window,
            tuple(by_window[start][e] for e in ids if e in by_window[start]),
            ids,
        )
        for start in sorted(by_window)
    )


def unknown_model_message(config: Config, model: str) -> str:
    """``unknown model 'x'; known: a, b`` (the 404 message of the API and the CLI's error)."""
    known = ", ".join(m.id for m in config.models) or "none configured"
    return f"unknown model {model!r}; known: {known}"


# --- JSON --------------------------------------------------------------------------------------


def distribution_json(rollup: EndpointRollup, name: str) -> dict[str, Any]:
    """One distribution of a rollup as JSON (count, p50, p90, p95, p99, min, max, mean)."""
    d = getattr(rollup, name)
    return {
        "count": d.count,
        "p50": d.p50,
        "p90": d.p90,
        "p95": d.p95,
        "p99": d.p99,
        "min": d.min,
        "max": d.max,
        "mean": d.mean,
    }


def rollup_json(rollup: EndpointRollup) -> dict[str, Any]:
    """A stored rollup as JSON (the rows of ``/api/v1/rollups`` and of a report's windows)."""
    return {
        "endpoint": rollup.endpoint,
        "model": rollup.model,
        "provider": rollup.provider,
        "region": rollup.region,
        "window_start": format_utc(rollup.window_start),
        "window_end": format_utc(rollup.window_end),
        "window_seconds": rollup.window_seconds,
        "probes": rollup.probes,
        "successes": rollup.successes,
        "outcomes": dict(rollup.outcomes),
        "failures_by_outcome": rollup.failures,
        "uptime_ratio": rollup.uptime_ratio,
        "ttft_seconds": distribution_json(rollup, "ttft"),
        "output_tokens_per_second": distribution_json(rollup, "speed"),
        "total_seconds": distribution_json(rollup, "latency"),
        "output_tokens": rollup.output_tokens,
        "input_tokens": rollup.input_tokens,
        "cost_usd": rollup.cost_usd,
        "computed_at": format_utc(rollup.computed_at),
    }


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data, a stable structure (``report_version`` 1)::

        {report_version, generated_at, since, until, window_seconds, window, has_data,
         models: [{model, name, pricing, card, live: <profile live object>,
                   endpoints: [{endpoint, model, provider, region, probes, successes,
                                uptime_ratio, ttft_p50_seconds, ttft_p95_seconds,
                                output_tokens_per_second_p50, failures_by_outcome,
                                output_tokens, input_tokens, cost_usd,
                                source: "probes" | "rollups"}],
                   no_data: [endpoint id]}],
         windows: [{window_start, window_end, endpoints: [<rollup_json>],
                    no_data: [endpoint id]}]}

    Times are ISO 8601 UTC with ``Z``; unknown numbers are ``null``. ``endpoints`` holds the
    endpoints with data (at least one probe in the range, or a rollup in the window);
    ``no_data`` names the reported endpoints without any, which have no numbers at all.
    """
    return {
        "report_version": REPORT_VERSION,
        "generated_at": format_utc(report.generated_at),
        "since": iso_utc(report.since),
        "until": iso_utc(report.until),
        "window_seconds": report.window_seconds,
        "window": describe_window(report.window_seconds),
        "has_data": report.has_data,
        "models": [
            {
                "model": m.spec.id,
                "name": m.spec.name,
                "pricing": m.spec.pricing.model_dump(mode="json") if m.spec.pricing else None,
                "card": card_line(m.live, report.window_seconds),
                "live": m.live.to_json_dict(),
                "endpoints": [s.to_json_dict() for s in m.endpoints if s.has_data],
                "no_data": [s.endpoint for s in m.endpoints if not s.has_data],
            }
            for m in report.models
        ],
        "windows": [
            {
                "window_start": format_utc(w.window_start),
                "window_end": format_utc(w.window_end),
                "endpoints": [rollup_json(r) for r in w.rollups],
                "no_data": list(w.no_data),
            }
            for w in report.windows
        ],
    }


def render_json(report: Report) -> str:
    """The report as indented JSON (see ``report_json``), ending with a newline."""
    return json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"


# --- text for people ---------------------------------------------------------------------------


def percent(ratio: float | None) -> str:
    """``99.9%``, rounded down so that anything short of perfect never shows as 100%."""
    if ratio is None:
        return "—"
    return f"{math.floor(ratio * 1000 + 1e-9) / 10:.1f}%"


def millis(seconds: float | None) -> str:
    """``531 ms``."""
    return "—" if seconds is None else f"{seconds * 1000:,.0f} ms"


def tokens_per_second(value: float | None) -> str:
    """``111 tok/s``."""
    return "—" if value is None else f"{value:,.0f} tok/s"


def usd(value: float) -> str:
    """``$0.000279``: probes cost fractions of a cent."""
    return f"${value:,.6f}"


def price(value: float) -> str:
    """``$0.10``, ``$0.025``: cents always, more digits only when the price has them."""
    cents = f"{value:,.2f}"
    return f"${cents}" if float(cents.replace(",", "")) == value else f"${value:,g}"


def failures_text(failures: Mapping[str, int]) -> str:
    """``timeout 2, server_error 1`` (or ``—``)."""
    return ", ".join(f"{k} {v}" for k, v in failures.items() if v) or "—"


def where(provider: str, region: str | None) -> str:
    """``Azure eastus``, ``OpenAI``: who serves an endpoint, and where."""
    name = PROVIDER_DISPLAY_NAMES.get(provider, provider)
    return f"{name} {region}" if region else name


def every(seconds: int) -> str:
    """``30 minutes``, ``hour``, ``2 hours``, ``15 seconds``."""
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return "second" if seconds == 1 else f"{seconds} seconds"


def card_line(live: ModelLive, window: int) -> str:
    """The live card in one line, as the model page shows it."""
    uptime, ttft, speed = (
        live.avg_uptime_ratio,
        live.best_ttft_seconds,
        live.best_output_tokens_per_second,
    )
    via = ", ".join(live.available_via)
    parts = [
        "uptime unknown" if uptime is None else f"{percent(uptime)} avg uptime",
        "TTFT unknown" if ttft is None else f"{millis(ttft)} best TTFT",
        "throughput unknown" if speed is None else f"{tokens_per_second(speed)} best throughput",
        f"{live.active_endpoints}/{live.total_endpoints} active endpoints",
        f"available via {via}" if via else "not available",
        f"refreshed every {every(window)}",
    ]
    return " · ".join(parts)


def pricing_line(spec: ModelSpec) -> str | None:
    """``$0.10 input · $0.40 output · $0.025 cached input per 1M tokens`` (None if unpriced)."""
    p = spec.pricing
    if p is None:
        return None
    parts = [f"{price(p.input_per_million)} input", f"{price(p.output_per_million)} output"]
    if p.cached_input_per_million is not None:
        parts.append(f"{price(p.cached_input_per_million)} cached input")
    return " · ".join(parts) + " per 1M tokens"


def span_text(since: datetime, until: datetime) -> str:
    """``2025-06-01 12:00 – 12:30 UTC`` (the end's date is shown when it differs)."""
    seconds = ":%S" if since.second or until.second else ""
    start = since.strftime(f"%Y-%m-%d %H:%M{seconds}")
    same_day = (until - timedelta(microseconds=1)).date() == since.date()
    end = until.strftime(f"%H:%M{seconds}" if same_day else f"%Y-%m-%d %H:%M{seconds}")
    return f"{start} – {end} UTC"


def ago(moment: datetime | None, now: datetime) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, else the date (``—`` if never)."""
    if moment is None:
        return "—"
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return format_utc(moment)[:16] + "Z"
    for limit, size, unit in ((90, 1, "s"), (90 * 60, 60, "m"), (48 * 3600, 3600, "h")):
        if seconds < limit:
            return f"{seconds // size:.0f}{unit} ago"
    return moment.strftime("%Y-%m-%d")


def _title(report: Report) -> str:
    return f"Rollup report · {span_text(report.since, report.until)}"


def _subtitle(report: Report) -> str:
    return (
        f"{describe_window(report.window_seconds)} windows · "
        f"{len(report.windows)} window(s) with rollups · "
        f"generated {format_utc(report.generated_at)[:19]}Z"
    )


def _model_heading(spec: ModelSpec) -> str:
    return spec.id if not spec.name else f"{spec.id} · {spec.name}"


_NO_DATA = "No data yet: no probe is stored in this range."
#: What a cell of probes says for an endpoint with no probe stored in a window or range.
NO_DATA = "no data"
_NONE = "—"
_FROM_ROLLUPS = (
    "* raw probes of the range are no longer stored (retention): counts are summed from the "
    "rollups and percentiles over the range are unknown."
)

#: Column name → (right-aligned, may wrap): numbers stay whole, text gives way on a narrow screen.
_COLUMNS: dict[str, tuple[bool, bool]] = {
    "endpoint": (False, False), "window": (False, True), "via": (False, True),
    "status": (False, False), "uptime": (True, False), "probes": (True, False),
    "TTFT p50": (True, False), "TTFT p95": (True, False), "tok/s p50": (True, False),
    "failures": (False, True), "cost": (True, False), "last probe": (False, True),
}  # fmt: skip
_SUMMARY_HEADERS = (
    "endpoint", "via", "uptime", "probes", "TTFT p50", "TTFT p95", "tok/s p50",
    "failures", "cost",
)  # fmt: skip
_WINDOW_HEADERS = (
    "window", "endpoint", "probes", "uptime", "TTFT p50", "TTFT p95", "tok/s p50", "failures",
)  # fmt: skip


def _speed_cell(value: float | None) -> str:
    # The unit is in the header: the column stays narrow.
    return "—" if value is None else f"{value:,.0f}"


def _summary_cells(s: EndpointSummary) -> list[str]:
    if not s.has_data:
        via = where(s.provider, s.region)
        return [s.endpoint, via, _NONE, NO_DATA, _NONE, _NONE, _NONE, _NONE, _NONE]
    return [
        s.endpoint + ("*" if s.source == "rollups" else ""),
        where(s.provider, s.region),
        percent(s.uptime_ratio),
        f"{s.probes:,}",
        millis(s.ttft_p50_seconds),
        millis(s.ttft_p95_seconds),
        _speed_cell(s.output_tokens_per_second_p50),
        failures_text(s.failures_by_outcome),
        usd(s.cost_usd),
    ]


def _window_cells(
    w: WindowReport, endpoint: str, r: EndpointRollup | None, *, short: bool = False
) -> list[str]:
    # A terminal shows the start only (the size is in the subtitle); Markdown the whole span.
    when = (
        w.window_start.strftime("%m-%d %H:%M" + (":%S" if w.window_start.second else ""))
        if short
        else span_text(w.window_start, w.window_end).removesuffix(" UTC")
    )
    if r is None:
        return [when, endpoint, NO_DATA, _NONE, _NONE, _NONE, _NONE, _NONE]
    return [
        when,
        r.endpoint,
        f"{r.probes:,}",
        percent(r.uptime_ratio),
        millis(r.ttft.p50),
        millis(r.ttft.p95),
        _speed_cell(r.speed.p50),
        failures_text(r.failures),
    ]


def _rich_table(headers: Sequence[str], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in headers:
        right, wraps = _COLUMNS.get(name, (False, False))
        table.add_column(
            name,
            justify="right" if right else "left",
            no_wrap=not wraps,
            overflow="fold",
            min_width=6 if wraps else None,
        )
    return table


def _cell(text: str) -> str | Text:
    """The ``Text`` rich would make of ``text`` when it prints it, made once here rather than
    each time rich measures and renders the cell; ``text`` itself when that could differ
    (``[`` may open markup, two ``:`` may name an emoji)."""
    if "[" in text or text.count(":") > 1:
        return text
    return Text(text)


def _fill(table: Table, rows: Iterable[Sequence[str | Text]], width: int) -> None:
    """Add ``rows`` to ``table``; when the table fits in ``width`` columns as it is, fix each
    column at the width rich would measure for it, so that rich does not measure every cell
    again (the same output, in a fraction of the time). A table that does not fit is left to
    rich to narrow."""
    widths = [max(_text_width(c.header), c.min_width or 0) for c in table.columns]
    for row in rows:
        cells = [_cell(c) if isinstance(c, str) else c for c in row]
        table.add_row(*cells)
        for index, cell in enumerate(cells):
            widths[index] = max(widths[index], _text_width(cell))
    edges = 2 if table.box and table.show_edge else 0
    borders = edges + (len(table.columns) - 1 if table.box else 0)
    padding = table.padding[1] + table.padding[3]
    plain = table.pad_edge and not table.collapse_padding and not table.expand
    if not plain or sum(w + padding for w in widths) > width - borders:
        return
    for column, fixed in zip(table.columns, widths, strict=True):
        column.width = fixed


def _text_width(cell: object) -> int:
    plain = cell.plain if isinstance(cell, Text) else str(cell)
    return max((cell_len(line) for line in plain.splitlines()), default=0)


def render_table(report: Report, console: Console) -> None:
    """The report as rich tables on a terminal."""
    console.print(Text(_title(report), style="bold"))
    console.print(_subtitle(report), style="dim")
    if not report.has_data:
        console.print(_NO_DATA, style="yellow")
    for m in report.models:
        console.print()
        lines: list[Text | Table] = [
            Text(_model_heading(m.spec), style="bold cyan"),
            Text(card_line(m.live, report.window_seconds)),
        ]
        if (prices := pricing_line(m.spec)) is not None:
            lines.append(Text(prices, style="dim"))
        table = _rich_table(_SUMMARY_HEADERS)
        _fill(table, [_summary_cells(s) for s in m.endpoints], console.width)
        lines.append(table)
        if any(s.source == "rollups" for s in m.endpoints):
            lines.append(Text(_FROM_ROLLUPS, style="dim"))
        console.print(Group(*lines))
    if report.windows:
        console.print()
        table = _rich_table(_WINDOW_HEADERS, title="Windows (UTC start)")
        rows = [_window_cells(w, e, r, short=True) for w in report.windows for e, r in w.rows()]
        _fill(table, rows, console.width)
        console.print(table)


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    aligns = ("---:" if _COLUMNS.get(h, (False, False))[0] else "---" for h in headers)
    return [_md_row(headers), "|" + "|".join(aligns) + "|", *(_md_row(r) for r in rows)]


def render_markdown(report: Report) -> str:
    """The report as a Markdown document."""
    out = [f"# {_title(report)}", "", _subtitle(report), ""]
    if not report.has_data:
        out += [f"**{_NO_DATA}**", ""]
    for m in report.models:
        out += [f"## {_model_heading(m.spec)}", "", card_line(m.live, report.window_seconds), ""]
        if (prices := pricing_line(m.spec)) is not None:
            out += [f"Pricing: {prices}", ""]
        out += _md_table(_SUMMARY_HEADERS, [_summary_cells(s) for s in m.endpoints])
        out.append("")
        if any(s.source == "rollups" for s in m.endpoints):
            out += [f"\\{_FROM_ROLLUPS}", ""]
    if report.windows:
        rows = [_window_cells(w, e, r) for w in report.windows for e, r in w.rows()]
        out += ["## Windows", "", *_md_table(_WINDOW_HEADERS, rows), ""]
    return "\n".join(out)


#: The CSV header: one row per stored rollup (an endpoint in a window it has data in).
CSV_COLUMNS: tuple[str, ...] = (
    "window_start", "window_end", "model", "endpoint", "provider", "region", "probes",
    "successes", "uptime_ratio", "ttft_p50_seconds", "ttft_p95_seconds",
    "output_tokens_per_second_p50", "output_tokens_per_second_p95", "total_seconds_p50",
    *(f"failures_{o}" for o in FAILURE_OUTCOMES),
    "output_tokens", "input_tokens", "cost_usd",
)  # fmt: skip


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    return str(value)


def render_csv(report: Report) -> str:
    """One row per stored rollup (endpoint and window) with the header ``CSV_COLUMNS``; empty
    cell = unknown. An endpoint with no data in a window has no row there."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for w in report.windows:
        for r in w.rollups:
            writer.writerow(
                _csv_value(v)
                for v in (
                    format_utc(w.window_start),
                    format_utc(w.window_end),
                    r.model,
                    r.endpoint,
                    r.provider,
                    r.region,
                    r.probes,
                    r.successes,
                    r.uptime_ratio,
                    r.ttft.p50,
                    r.ttft.p95,
                    r.speed.p50,
                    r.speed.p95,
                    r.latency.p50,
                    *(r.outcomes.get(o, 0) for o in FAILURE_OUTCOMES),
                    r.output_tokens,
                    r.input_tokens,
                    r.cost_usd,
                )
            )
    return buffer.getvalue()


# --- the daemon's per-window files -------------------------------------------------------------


def report_basename(start: datetime, window: int) -> str:
    """``report-20250601T1200Z`` (with seconds, ``...T120005Z``, for sub-minute windows)."""
    pattern = "%Y%m%dT%H%MZ" if window % 60 == 0 else "%Y%m%dT%H%M%SZ"
    return "report-" + start.astimezone(UTC).strftime(pattern)


def write_window_report(
    directory: Path | str, snapshot: Snapshot, config: Config, store: Store
) -> list[Path]:
    """Write the finished window's report as ``report-…Z.md`` and ``.json`` into ``directory``
    (created if needed), each atomically; return the paths written."""
    window = snapshot.window_seconds
    start = snapshot.last_window_start or last_complete_window(
        snapshot.refreshed_at, window, settle_seconds(config)
    )
    report = build_report(
        config,
        store,
        now=snapshot.refreshed_at,
        since=start,
        until=start + timedelta(seconds=window),
        window=window,
    )
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    base = report_basename(report.since, window)
    written = []
    for suffix, text in ((".md", render_markdown(report)), (".json", render_json(report))):
        path = folder / f"{base}{suffix}"
        write_atomically(path, text)
        written.append(path)
    return written


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is not a secret
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


# --- the model profile for people --------------------------------------------------------------


def _fact_rows(spec: ModelSpec) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if spec.creator:
        rows.append(("creator", spec.creator))
    if spec.release_date:
        rows.append(("released", spec.release_date.isoformat()))
    if (prices := pricing_line(spec)) is not None:
        rows.append(("pricing", prices))
    if spec.context_window:
        rows.append(("context window", f"{spec.context_window:,} tokens"))
    if spec.max_output_tokens:
        rows.append(("max output", f"{spec.max_output_tokens:,} tokens"))
    if spec.modality:
        rows.append(("modality", spec.modality))
    if spec.capabilities:
        rows.append(("capabilities", ", ".join(spec.capabilities)))
    if spec.description:
        rows.append(("description", spec.description))
    for key, value in spec.metadata.items():
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        rows.append((str(key), shown))
    return rows


def _span_label(seconds: float) -> str:
    """``24h`` rather than ``1d``: uptime spans read in hours up to four days."""
    if seconds % 3600 == 0 and seconds <= 96 * 3600:
        return f"{int(seconds // 3600)}h"
    return describe_window(int(seconds))


def render_profile(
    spec: ModelSpec, live: ModelLive, window: int, uptime_window: float, console: Console
) -> None:
    """The model profile as a person reads it: the card, the facts, one line per endpoint."""
    console.print(Text(_model_heading(spec), style="bold cyan"))
    console.print(card_line(live, window))
    if live.window_start is not None and live.window_end is not None:
        console.print(
            f"last complete window {span_text(live.window_start, live.window_end)} · "
            f"refreshed {format_utc(live.refreshed_at)[:19]}Z",
            style="dim",
        )
    else:
        console.print(
            "No data in the last complete window: no probe of this model is stored in it.",
            style="yellow",
        )
    facts = _fact_rows(spec)
    if facts:
        grid = Table(show_header=False, box=None, pad_edge=False)
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in facts:
            grid.add_row(key, value)
        console.print(grid)
    headers = (
        "endpoint", "via", "status", "uptime", "TTFT p50", "TTFT p95", "tok/s p50",
        "probes", "failures", "last probe",
    )  # fmt: skip
    table = _rich_table(headers)
    table.columns[3].header = f"uptime {_span_label(uptime_window)}"
    colours = {"up": "green", "degraded": "yellow", "down": "red", "unknown": "dim"}
    rows: list[list[str | Text]] = [
        [
            e.endpoint,
            where(e.provider, e.region),
            Text(e.status, style=colours.get(e.status, "")),
            percent(e.uptime_ratio),
            millis(e.ttft_p50_seconds),
            millis(e.ttft_p95_seconds),
            _speed_cell(e.output_tokens_per_second_p50),
            NO_DATA if e.probes is None else f"{e.probes:,}",
            failures_text(e.failures_by_outcome),
            ago(e.last_probe_at, live.refreshed_at),
        ]
        for e in live.endpoints
    ]
    _fill(table, rows, console.width)
    console.print(table)
