"""Building a report from the store: which windows it covers, the live card at its end, and
each endpoint's summary over its range (docs/design.md#rollup-windows).

A report covers whole, complete windows: the windows whose start lies in ``[since, until)``
once ``since`` is aligned down and ``until`` up to window boundaries, never past the end of the
last complete window (an unfinished window's numbers would still change). By default it covers
the last complete window. Each endpoint's summary over the whole range is computed exactly from
the raw probes of the range (``source: "probes"``); when retention has deleted raw probes that
the stored rollups still count, the counts are summed from the rollups instead and the
percentiles are unknown (``source: "rollups"``).

An endpoint with no stored probe in the range, or no rollup in a window (the monitor was not
running, or the endpoint was not configured yet), has no data there: nothing is made up for it.
A window in which no endpoint has a rollup is not listed at all.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.config import Config, Endpoint
from monitor.core.errors import UnknownModelError
from monitor.core.incidents import summarize
from monitor.core.outcomes import failures_of, known_outcomes, uptime_ratio
from monitor.core.profile import ModelLive, UptimeCounts, model_live
from monitor.core.rollup import (
    EndpointIdentity,
    EndpointRollup,
    ProbeRow,
    compute_rollup,
    window_start,
)
from monitor.reports.model import (
    EndpointSummary,
    ProbeSpend,
    Report,
    ReportIncidents,
    ReportModel,
    ReportWindow,
)
from monitor.service.aggregator import (
    last_complete_window,
    last_window_since,
    settle_seconds,
    snapshot,
    window_seconds,
    with_kinds,
)
from monitor.service.queries import unknown_model_message
from monitor.store import Store


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
    uptime_counts = store.uptime_counts(
        window_seconds=window, since=uptime_since, until=end, model=model
    )
    located = store.location_rollups(
        window_seconds=window, since=last_window, until=end, model=model
    )
    in_range = [r for r in stored if r.window_start >= start]
    by_endpoint: dict[str, list[EndpointRollup]] = {}
    for rollup in in_range:
        by_endpoint.setdefault(rollup.endpoint, []).append(rollup)
    raw = store.probe_rows(start, end) if start < end else {}
    last_probe_at = store.last_probe_times()
    rate_limited_is_down = config.schema.rollup.rate_limited_is_down
    models = tuple(
        ReportModel(
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
                uptime=uptime_counts.get(spec.id, UptimeCounts()),
                location_rollups=located,
            ),
            window_seconds=window,
            summaries=tuple(
                summarize_endpoint(
                    e,
                    raw.get(e.id, []),
                    by_endpoint.get(e.id, []),
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
    lives = with_kinds(config, store, {m.spec.id: m.live for m in models}, last_window, end)
    models = tuple(replace(m, live=lives[m.spec.id]) for m in models)
    budget = config.schema.probe.budget_usd_per_day
    spend = (
        None
        if budget is None
        else ProbeSpend(store.spend_since(end - timedelta(days=1), end), budget_usd_per_day=budget)
    )
    incidents = [
        i for i in store.incidents(since=start, until=end, model=model) if i.endpoint in configured
    ]
    return Report(
        generated_at=now,
        since=start,
        until=end,
        window_seconds=window,
        models=models,
        windows=_windows(in_range, endpoints, window),
        probe_spend=spend,
        incidents=ReportIncidents(summarize(incidents, start, end), tuple(incidents)),
    )


def model_profile(config: Config, store: Store, model: str, now: datetime) -> ModelLive:
    """The live profile of ``model`` at ``now`` (the ``profile`` command)."""
    if config.model(model) is None:
        raise UnknownModelError(unknown_model_message(config, model))
    return snapshot(config, store, now).profiles[model]


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
            failures_by_outcome=total.failures_by_outcome,
            output_tokens=total.output_tokens,
            input_tokens=total.input_tokens,
            cost_usd=total.cost_usd,
            source="probes",
            answer_ttft_p50_seconds=total.answer_ttft.p50,
            answer_ttft_p95_seconds=total.answer_ttft.p95,
        )
    counts: Counter[str] = Counter()
    for rollup in rollups:
        counts.update(rollup.outcomes)
    return EndpointSummary(
        endpoint=endpoint.id,
        model=endpoint.model.id,
        provider=endpoint.provider,
        region=endpoint.region,
        probes=stored_probes,
        successes=sum(r.successes for r in rollups),
        uptime_ratio=uptime_ratio(
            known_outcomes(counts), rate_limited_is_down=rate_limited_is_down
        ),
        ttft_p50_seconds=None,
        ttft_p95_seconds=None,
        output_tokens_per_second_p50=None,
        failures_by_outcome=failures_of(counts),
        output_tokens=sum(r.output_tokens for r in rollups),
        input_tokens=sum(r.input_tokens for r in rollups),
        cost_usd=math.fsum(r.cost_usd for r in rollups),
        source="rollups",
    )


def _windows(
    rollups: Sequence[EndpointRollup], endpoints: Sequence[Endpoint], window: int
) -> tuple[ReportWindow, ...]:
    """The windows that have a stored rollup, each with its rollups in configuration order
    (an endpoint without one there has no data in it: nothing is made up for it)."""
    by_window: dict[datetime, dict[str, EndpointRollup]] = {}
    for rollup in rollups:
        by_window.setdefault(rollup.window_start, {})[rollup.endpoint] = rollup
    ids = tuple(e.id for e in endpoints)
    return tuple(
        ReportWindow(
            window_start=start,
            window_seconds=window,
            rollups=tuple(by_window[start][e] for e in ids if e in by_window[start]),
            reported=ids,
        )
        for start in sorted(by_window)
    )
