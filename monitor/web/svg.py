"""The pages' pictures, drawn on the server as SVG (pure): an endpoint's uptime bar, a small
line of its TTFT, and line charts with one series per endpoint.

Nothing here is drawn in the browser, so the pictures need no script and no library, and a
page works on a machine without internet. Colours come from the style sheet (classes, not
inline colours), so the light and dark themes share one drawing. Every picture carries its
numbers in words: the bar's cells have a tooltip (``<title>``) each and the bar a summary
(``aria-label``); a chart has a description, a legend and a table of its series.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from markupsafe import Markup, escape

from monitor.core.shape import utc_text
from monitor.reports.text import millis, percent, span_text, tokens_per_second
from monitor.web.history import Cell

#: Series drawn in one chart at most (each its own colour); the others are named in its note.
MAX_SERIES = 8
#: Line styles (``k0``…``k3``: solid, dashed, dotted, dash-dot), so that two series never
#: differ by colour alone.
STYLES = 4


def uptime_class(cell: Cell) -> str:
    """The colour class of a bar cell: ``nd`` (no data), ``unk`` (no counted probe), ``u100``,
    ``u99`` (99 % or more), ``u95``, ``ulow`` (above 0) or ``u0``."""
    if not cell.has_data:
        return "nd"
    uptime = cell.uptime
    if uptime is None:
        return "unk"
    if uptime >= 1.0:
        return "u100"
    if uptime >= 0.99:
        return "u99"
    if uptime >= 0.95:
        return "u95"
    return "ulow" if uptime > 0 else "u0"


@functools.lru_cache(maxsize=4096)
def _span(start: datetime, end: datetime) -> str:
    # Every bar of a page has the same cells: their spans are written once.
    return span_text(start, end)


def cell_text(cell: Cell, windows_per_cell: int) -> str:
    """What a bar cell says on hover: its span and numbers."""
    when = _span(cell.start, cell.end)
    if not cell.has_data:
        return f"{when} · no data"
    parts = [when]
    if windows_per_cell > 1:
        parts.append(f"{cell.windows} of {windows_per_cell} windows with data")
    uptime = cell.uptime
    if uptime is None:
        parts.append(f"uptime unknown ({cell.probes:,} probes, none counted)")
    else:
        parts.append(f"{percent(uptime)} uptime ({cell.successes:,} of {cell.counted:,} up)")
    if cell.ttft_p50 is not None:
        parts.append(f"TTFT p50 {millis(cell.ttft_p50)}")
    if cell.speed_p50 is not None:
        parts.append(tokens_per_second(cell.speed_p50))
    return " · ".join(parts)


def bar_summary(cells: Sequence[Cell], span_words: str) -> str:
    """The bar in one sentence, for screen readers."""
    if not any(c.has_data for c in cells):
        return f"Uptime {span_words}: no data."
    full = sum(1 for c in cells if c.uptime is not None and c.uptime >= 1.0)
    below = [c for c in cells if c.uptime is not None and c.uptime < 1.0]
    empty = sum(1 for c in cells if not c.has_data)
    unknown = sum(1 for c in cells if c.has_data and c.uptime is None)
    parts = [f"{full} of {len(cells)} at 100%"]
    if below:
        worst = min(below, key=lambda c: c.uptime or 0.0)
        parts.append(
            f"{len(below)} below (lowest {percent(worst.uptime)}, "
            f"{span_text(worst.start, worst.end)})"
        )
    if unknown:
        parts.append(f"{unknown} with uptime unknown")
    if empty:
        parts.append(f"{empty} without data")
    return f"Uptime {span_words}: " + ", ".join(parts) + "."


def uptime_bar(
    cells: Sequence[Cell], windows_per_cell: int, *, endpoint: str, span_words: str
) -> Markup:
    """The uptime bar: one cell per window (or per few windows), oldest on the left. The bar
    says where its cells start and how long each is (``data-since``, ``data-cell-seconds``);
    a cell with a known uptime carries it exactly (``data-uptime``)."""
    width, gap, height = 10, 2, 24
    size = int((cells[0].end - cells[0].start).total_seconds()) if cells else 0
    since = utc_text(cells[0].start, micros=False) if cells else ""
    out = [
        f'<svg class="bar" viewBox="0 0 {len(cells) * width} {height}" '
        'preserveAspectRatio="none" role="img" focusable="false" data-testid="uptime-bar" '
        f'data-endpoint="{escape(endpoint)}" data-since="{since}" data-cell-seconds="{size}" '
        f'aria-label="{escape(bar_summary(cells, span_words))}">'
    ]
    for i, cell in enumerate(cells):
        kind = uptime_class(cell)
        # No data is a low grey stub, never a full cell: it must not read as a cell of 0 %.
        y, h = (16, 8) if kind == "nd" else (0, height)
        uptime = "" if cell.uptime is None else f' data-uptime="{cell.uptime!r}"'
        out.append(
            f'<rect x="{i * width}" y="{y}" width="{width - gap}" height="{h}" class="{kind}"'
            f"{uptime}><title>{escape(cell_text(cell, windows_per_cell))}</title></rect>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def sparkline(
    values: Sequence[float | None], *, label: str, unit: Callable[[float], str], what: str
) -> Markup:
    """A small line of ``values`` (one per cell, None for a gap), with its range in words."""
    width, height = 10, 24
    known = [v for v in values if v is not None]
    if not known:
        words = f"{what}: no data"
    else:
        latest = next(v for v in reversed(values) if v is not None)
        words = (
            f"{what}: latest {unit(latest)}, lowest {unit(min(known))}, highest {unit(max(known))}"
        )
    out = [
        f'<svg class="spark" viewBox="0 0 {max(1, len(values)) * width} {height}" '
        f'preserveAspectRatio="none" role="img" focusable="false" data-testid="{label}" '
        f'aria-label="{escape(words)}">'
    ]
    if known:
        low, high = min(known), max(known)
        scale = (height - 6) / (high - low) if high > low else 0.0

        def y(v: float) -> float:
            return round(height - 3 - (v - low) * scale, 2) if scale else height / 2

        x = [i * width + width / 2 for i in range(len(values))]
        out.append(
            f'<path d="{_path(x, [None if v is None else y(v) for v in values], 3)}" '
            'vector-effect="non-scaling-stroke"/>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def _path(xs: Sequence[float], ys: Sequence[float | None], dash: float) -> str:
    """An SVG path through the known points, broken at the unknown ones; a point alone
    between gaps is drawn as a short dash of ±``dash`` so that it shows."""
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((x, y))
    parts = []
    for segment in segments:
        if len(segment) == 1:
            ((x, y),) = segment
            parts.append(f"M{x - dash:.1f},{y:.1f}H{x + dash:.1f}")
        elif segment:
            head, *rest = segment
            parts.append(
                f"M{head[0]:.1f},{head[1]:.1f}" + "".join(f"L{x:.1f},{y:.1f}" for x, y in rest)
            )
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Series:
    """One endpoint's line: a value (in the chart's unit) or None per point."""

    key: str
    label: str
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """What a chart shows: ``metric`` names it for the tests (``ttft_p50``, ...)."""

    metric: str
    title: str
    unit: str
    #: How a value reads (in the chart's unit).
    text: Callable[[float], str]
    #: ``zero``: the axis starts at 0; ``percent``: 0–100, zoomed to the lowest value.
    scale: Literal["zero", "percent"] = "zero"


WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 24, 34


def line_chart(
    chart: Chart,
    *,
    xs: Sequence[datetime],
    since: datetime,
    until: datetime,
    series: Sequence[Series],
    note: str,
    chart_id: str,
    hidden: int = 0,
) -> Markup:
    """A line chart over ``[since, until)`` with one line per series, its axes, legend,
    description and a table of each series' numbers. ``hidden`` series were left out."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    known = [v for s in series for v in s.values if v is not None]
    ticks = _value_ticks(chart, known)
    low, high = ticks[0], ticks[-1]
    seconds = (until - since).total_seconds()

    def x(moment: datetime) -> float:
        return LEFT + (moment - since).total_seconds() / seconds * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - (value - low) / (high - low) * plot_h

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    out = [
        f'<figure class="chart" id="{chart_id}" data-testid="chart" data-metric="{chart.metric}">',
        f'<figcaption id="{title_id}"><strong>{escape(chart.title)}</strong> '
        f'<span class="unit">({escape(chart.unit)})</span></figcaption>',
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" focusable="false" '
        f'aria-labelledby="{title_id} {desc_id}">',
        f'<desc id="{desc_id}">{escape(_describe(chart, series))}</desc>',
        '<g class="grid">',
    ]
    for value in ticks:
        ty = y(value)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{escape(_tick_text(value, ticks))}</text>"
        )
    out.append('</g><g class="axis">')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    for moment, text in _time_ticks(since, until):
        tx = x(moment)
        out.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}"/>'
        )
        out.append(f'<text x="{tx:.1f}" y="{TOP + plot_h + 17}" text-anchor="middle">{text}</text>')
    out.append(
        f'<text class="axis-title" x="{WIDTH - RIGHT}" y="{HEIGHT - 2}" '
        'text-anchor="end">UTC</text>'
    )
    out.append(
        f'<text class="axis-title" x="{LEFT - 6}" y="{TOP - 10}" text-anchor="end">'
        f"{escape(chart.unit)}</text>"
    )
    out.append("</g>")
    point_x = [x(moment) for moment in xs]
    for i, s in enumerate(series):
        ys = [None if v is None else y(v) for v in s.values]
        out.append(
            f'<g class="{series_class(i)}" data-testid="chart-series" '
            f'data-endpoint="{escape(s.key)}" data-points="{sum(v is not None for v in s.values)}">'
            f'<path d="{_path(point_x, ys, 2.5)}"/></g>'
        )
    out.append("</svg>")
    out.append('<ul class="legend">')
    for i, s in enumerate(series):
        out.append(
            f'<li><svg class="swatch {series_class(i)}" viewBox="0 0 28 6" aria-hidden="true" '
            'focusable="false"><line x1="1" y1="3" x2="27" y2="3"/></svg>'
            f"{escape(s.label)}</li>"
        )
    out.append("</ul>")
    notes = note + (
        f" {hidden} more endpoint(s) not drawn: see each endpoint's page." if hidden else ""
    )
    out.append(f'<p class="note">{escape(notes)}</p>')
    out.append(_table(chart, series, chart_id))
    out.append("</figure>")
    return Markup("".join(out))


def series_class(index: int) -> str:
    """The colour (``s0``…``s7``) and line style (``k0``…``k3``) of the ``index``-th series."""
    return f"s{index % MAX_SERIES} k{index % STYLES}"


def _describe(chart: Chart, series: Sequence[Series]) -> str:
    if not series:
        return f"{chart.title}: no endpoint to draw."
    parts = []
    for s in series:
        known = [v for v in s.values if v is not None]
        if not known:
            parts.append(f"{s.label}: no data")
            continue
        latest = next(v for v in reversed(s.values) if v is not None)
        parts.append(
            f"{s.label}: latest {chart.text(latest)}, lowest {chart.text(min(known))}, "
            f"highest {chart.text(max(known))}"
        )
    return f"{chart.title}, one line per endpoint. " + "; ".join(parts) + "."


def _table(chart: Chart, series: Sequence[Series], chart_id: str) -> str:
    rows = []
    for s in series:
        known = [v for v in s.values if v is not None]
        if known:
            latest = next(v for v in reversed(s.values) if v is not None)
            cells = [
                chart.text(latest),
                chart.text(min(known)),
                chart.text(_middle(known)),
                chart.text(max(known)),
                f"{len(known):,}",
            ]
        else:
            cells = ["—", "—", "—", "—", "0"]
        rows.append(
            f'<tr><th scope="row">{escape(s.label)}</th>'
            + "".join(f'<td class="num">{escape(c)}</td>' for c in cells)
            + "</tr>"
        )
    return (
        f'<details class="numbers" id="{chart_id}-numbers"><summary>Numbers</summary>'
        # A box that may scroll sideways (on a phone): focusable, so that keys scroll it too.
        f'<div class="table-scroll" role="region" tabindex="0" '
        f'aria-label="{escape(chart.title)}: numbers by endpoint"><table>'
        f'<caption class="visually-hidden">{escape(chart.title)} by endpoint</caption>'
        '<thead><tr><th scope="col">endpoint</th><th scope="col" class="num">latest</th>'
        '<th scope="col" class="num">lowest</th><th scope="col" class="num">median</th>'
        '<th scope="col" class="num">highest</th><th scope="col" class="num">points</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div></details>"
    )


def _middle(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def _value_ticks(chart: Chart, known: Sequence[float]) -> list[float]:
    """Round values for the horizontal lines, the first and last ones the axis' ends."""
    if chart.scale == "percent":
        lowest = min(known, default=100.0)
        floor = next(f for f in (99.0, 95.0, 90.0, 80.0, 50.0, 0.0) if f <= lowest and f < 100)
        return _nice(floor, 100.0)
    return _nice(0.0, max(known, default=0.0) or 1.0)


def _nice(low: float, high: float, count: int = 4) -> list[float]:
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    bottom = math.floor(low / step + 1e-9) * step
    top = math.ceil(high / step - 1e-9) * step
    steps = round((top - bottom) / step)
    return [round(bottom + i * step, 10) for i in range(steps + 1)]


def _tick_text(value: float, ticks: Sequence[float]) -> str:
    """A tick's value with as many decimals as the step between ticks has (92.5, not 92)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    digits = next((d for d in range(4) if abs(round(step, d) - step) < 1e-9), 3)
    return f"{value:,.{digits}f}"


_TIME_STEPS = (3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400)


def _time_ticks(since: datetime, until: datetime) -> list[tuple[datetime, str]]:
    """Round UTC moments for the time axis: at most six, hours or dates."""
    seconds = (until - since).total_seconds()
    step = next((s for s in _TIME_STEPS if seconds / s <= 6), _TIME_STEPS[-1])
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = math.ceil((since - epoch).total_seconds() / step) * step
    ticks = []
    moment = epoch + timedelta(seconds=first)
    while moment <= until:
        text = moment.strftime("%H:%M" if step < 86_400 else "%m-%d")
        ticks.append((moment, text))
        moment += timedelta(seconds=step)
    return ticks
