"""The tables of a report as people read them, cell by cell: the headers, each column's
alignment, and the cells of an endpoint's summary and of a window's row. The terminal and the
Markdown renderers (and the web pages) draw the same cells."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.core.profile import ModelLive
from monitor.core.rollup import EndpointRollup
from monitor.core.shape import utc_text
from monitor.core.spend import usd as usd_amount
from monitor.core.timeparse import describe_window
from monitor.reports.model import EndpointSummary, Report, ReportWindow
from monitor.reports.text import NO_DATA, failures_text, millis, percent, span_text, usd, where


def title(report: Report) -> str:
    return f"Rollup report · {span_text(report.since, report.until)}"


def subtitle(report: Report) -> str:
    return (
        f"{describe_window(report.window_seconds)} windows · "
        f"{len(report.windows)} window(s) with rollups · "
        f"generated {utc_text(report.generated_at, micros=False)}"
    )


NO_DATA_LINE = "No data yet: no probe is stored in this range."


NONE = "—"


FROM_ROLLUPS = (
    "* raw probes of the range are no longer stored (retention): counts are summed from the "
    "rollups and percentiles over the range are unknown."
)


#: The column of the time to first answer token, shown where it differs from the TTFT.
ANSWER_HEADER = "answer p50"

#: Column name → (right-aligned, may wrap): numbers stay whole, text gives way on a narrow screen.
COLUMNS: dict[str, tuple[bool, bool]] = {
    "endpoint": (False, False), "window": (False, True), "via": (False, True),
    "status": (False, False), "uptime": (True, False), "probes": (True, False),
    "TTFT p50": (True, False), "TTFT p95": (True, False), "tok/s p50": (True, False),
    "failures": (False, True), "cost": (True, False), "last probe": (False, True),
    "location": (False, False), "started": (False, False), "ended": (False, False),
    "lasted": (True, False), "down slots": (True, False), "first error": (False, True),
    ANSWER_HEADER: (True, False), "kind": (False, False), "prompt tokens": (True, False),
    "best TTFT": (True, False), "from": (False, True),
}  # fmt: skip


SUMMARY_HEADERS = (
    "endpoint", "via", "uptime", "probes", "TTFT p50", "TTFT p95", "tok/s p50",
    "failures", "cost",
)  # fmt: skip


WINDOW_HEADERS = (
    "window", "endpoint", "probes", "uptime", "TTFT p50", "TTFT p95", "tok/s p50", "failures",
)  # fmt: skip


#: What the table of locations shows (its title).
LOCATIONS_NOTE = "uptime over the profile's span, the rest in the last complete window"

#: Each location's view of each endpoint (docs/design.md#quorum-uptime), when several probed.
LOCATION_HEADERS = (
    "endpoint", "location", "uptime", "TTFT p50", "TTFT p95", "tok/s p50", "probes",
)  # fmt: skip


def location_rows(live: ModelLive) -> list[list[str]]:
    """The cells of ``LOCATION_HEADERS`` for every endpoint and location of a profile; none
    when at most one location probed (the endpoints' own lines say it all then)."""
    if len(live.locations) <= 1:
        return []
    return [
        [
            line.endpoint,
            loc.location,
            percent(loc.uptime_ratio),
            millis(loc.ttft_p50_seconds),
            millis(loc.ttft_p95_seconds),
            speed_cell(loc.output_tokens_per_second_p50),
            NO_DATA if loc.probes is None else f"{loc.probes:,}",
        ]
        for line in live.endpoints
        for loc in line.locations
    ]


def speed_cell(value: float | None) -> str:
    # The unit is in the header: the column stays narrow.
    return "—" if value is None else f"{value:,.0f}"


def summary_cells(s: EndpointSummary) -> list[str]:
    if not s.has_data:
        via = where(s.provider, s.region)
        return [s.endpoint, via, NONE, NO_DATA, NONE, NONE, NONE, NONE, NONE]
    return [
        s.endpoint + ("*" if s.source == "rollups" else ""),
        where(s.provider, s.region),
        percent(s.uptime_ratio),
        f"{s.probes:,}",
        millis(s.ttft_p50_seconds),
        millis(s.ttft_p95_seconds),
        speed_cell(s.output_tokens_per_second_p50),
        failures_text(s.failures_by_outcome),
        usd(s.cost_usd),
    ]


def reasoning_shown(summaries: Sequence[EndpointSummary]) -> bool:
    """Whether the time to first answer token differs from the TTFT (by a millisecond or
    more) for an endpoint of ``summaries``: only then is it a column of their table."""
    return any(
        s.answer_ttft_p50_seconds is not None
        and s.ttft_p50_seconds is not None
        and abs(s.answer_ttft_p50_seconds - s.ttft_p50_seconds) >= 0.001
        for s in summaries
    )


def summary_table(summaries: Sequence[EndpointSummary]) -> tuple[tuple[str, ...], list[list[str]]]:
    """The headers and rows of a model's endpoints; with ``answer p50`` after ``TTFT p95``
    when an endpoint streams reasoning before its answer (``reasoning_shown``)."""
    rows = [summary_cells(s) for s in summaries]
    if not reasoning_shown(summaries):
        return SUMMARY_HEADERS, rows
    at = SUMMARY_HEADERS.index("TTFT p95") + 1
    headers = (*SUMMARY_HEADERS[:at], ANSWER_HEADER, *SUMMARY_HEADERS[at:])
    for s, row in zip(summaries, rows, strict=True):
        row.insert(at, millis(s.answer_ttft_p50_seconds) if s.has_data else NONE)
    return headers, rows


def window_cells(
    w: ReportWindow, endpoint: str, r: EndpointRollup | None, *, short: bool = False
) -> list[str]:
    # A terminal shows the start only (the size is in the subtitle); Markdown the whole span.
    when = (
        w.window_start.strftime("%m-%d %H:%M" + (":%S" if w.window_start.second else ""))
        if short
        else span_text(w.window_start, w.window_end).removesuffix(" UTC")
    )
    if r is None:
        return [when, endpoint, NO_DATA, NONE, NONE, NONE, NONE, NONE]
    return [
        when,
        r.endpoint,
        f"{r.probes:,}",
        percent(r.uptime_ratio),
        millis(r.ttft.p50),
        millis(r.ttft.p95),
        speed_cell(r.speed.p50),
        failures_text(r.failures_by_outcome),
    ]


def spend_line(report: Report) -> str | None:
    """``Probe spend in the 24 h to the end: $12.00 of the $10.00 budget a day (reached)``,
    when a budget is set."""
    spend = report.probe_spend
    if spend is None:
        return None
    line = (
        f"Probe spend in the 24 h to the end: {usd_amount(spend.spent_usd)} of the"
        f" {usd_amount(spend.budget_usd_per_day)} budget a day"
    )
    return line + (" (reached: the daemon probes 16 times less often)" if spend.exhausted else "")


#: One row per incident of the reported endpoints that overlaps the range.
INCIDENT_HEADERS = (
    "endpoint", "started", "ended", "lasted", "down slots", "failures", "first error",
)  # fmt: skip


def lasted(seconds: float) -> str:
    """``45s``, ``12m 5s``, ``3h 20m``: a duration to the second under an hour."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    return f"{whole // 3600}h {whole % 3600 // 60}m"


def incidents_line(report: Report) -> str:
    """``2 incidents: 12m 5s down in the range, the longest 10m 0s; 1 still open at the end``,
    or that there was none."""
    summary = report.incidents.summary
    if not summary.count:
        return "No incidents in the range."
    line = (
        f"{summary.count} incident{'s' if summary.count != 1 else ''}:"
        f" {lasted(summary.downtime_seconds)} down in the range"
    )
    if summary.longest_seconds is not None and summary.count > 1:
        line += f", the longest {lasted(summary.longest_seconds)}"
    if summary.open:
        line += f"; {summary.open} still open at the end"
    return line


def incident_rows(report: Report) -> list[list[str]]:
    """The cells of each incident (times in UTC, to the second)."""
    return [
        [
            i.endpoint,
            utc_text(i.started_at, micros=False),
            "open" if i.ended_at is None else utc_text(i.ended_at, micros=False),
            lasted(i.duration_seconds) + (" so far" if i.ended_at is None else ""),
            str(i.down_slots),
            failures_text(i.outcomes),
            i.first_error or NONE,
        ]
        for i in report.incidents.incidents
    ]


#: TTFT by prompt size (docs/design.md#probe-kinds), when endpoints have probe kinds.
KIND_HEADERS = ("kind", "prompt tokens", "best TTFT", "from")
#: What the table of kinds shows (its title).
KINDS_NOTE = "TTFT by prompt size, best endpoint p50 in the last complete window"


def kind_rows(live: ModelLive) -> list[list[str]]:
    """One row per probe kind of the model (none without kinds)."""
    return [
        [
            k.kind,
            "plain prompt" if k.input_tokens is None else f"{k.input_tokens:,}",
            millis(k.best_ttft_seconds),
            k.best_ttft_from.endpoint if k.best_ttft_from else NONE,
        ]
        for k in live.kinds
    ]
