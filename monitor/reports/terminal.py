"""The report and the model profile on a terminal, drawn with rich (only the commands that
print to a terminal import this module; the API and the report files do not)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from monitor.config import ModelSpec
from monitor.core.profile import ModelLive
from monitor.core.shape import utc_text
from monitor.reports.cells import (
    COLUMNS,
    FROM_ROLLUPS,
    INCIDENT_HEADERS,
    KIND_HEADERS,
    KINDS_NOTE,
    LOCATION_HEADERS,
    LOCATIONS_NOTE,
    NO_DATA_LINE,
    WINDOW_HEADERS,
    incident_rows,
    incidents_line,
    kind_rows,
    location_rows,
    speed_cell,
    spend_line,
    subtitle,
    summary_table,
    title,
    window_cells,
)
from monitor.reports.model import Report
from monitor.reports.text import (
    NO_DATA,
    ago,
    card_line,
    fact_rows,
    failures_text,
    millis,
    model_heading,
    percent,
    pricing_line,
    span_label,
    span_text,
    where,
)


def _rich_table(headers: Sequence[str], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in headers:
        right, wraps = COLUMNS.get(name, (False, False))
        table.add_column(
            name,
            justify="right" if right else "left",
            no_wrap=not wraps,
            overflow="fold",
            min_width=6 if wraps else None,
        )
    return table


def _cell(text: str) -> Text:
    """A cell's text as it is: a region or an error may hold ``[`` or two ``:``, which rich
    would otherwise read as markup or an emoji code. Made once here, not each time rich
    measures and renders the cell."""
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
    console.print(Text(title(report), style="bold"))
    console.print(subtitle(report), style="dim")
    if not report.has_data:
        console.print(NO_DATA_LINE, style="yellow")
    if (spend := spend_line(report)) is not None:
        console.print(
            spend, style="red" if report.probe_spend and report.probe_spend.exhausted else ""
        )
    for m in report.models:
        console.print()
        lines: list[Text | Table] = [
            Text(model_heading(m.spec), style="bold cyan"),
            Text(card_line(m.live, report.window_seconds)),
        ]
        if (prices := pricing_line(m.spec)) is not None:
            lines.append(Text(prices, style="dim"))
        headers, rows = summary_table(m.summaries)
        table = _rich_table(headers)
        _fill(table, rows, console.width)
        lines.append(table)
        if any(s.source == "rollups" for s in m.summaries):
            lines.append(Text(FROM_ROLLUPS, style="dim"))
        if kinds := kind_rows(m.live):
            by_kind = _rich_table(KIND_HEADERS, title=KINDS_NOTE)
            _fill(by_kind, kinds, console.width)
            lines.append(by_kind)
        if located := location_rows(m.live):
            by_location = _rich_table(LOCATION_HEADERS, title=f"By location, {LOCATIONS_NOTE}")
            _fill(by_location, located, console.width)
            lines.append(by_location)
        console.print(Group(*lines))
    if report.incidents.incidents:
        console.print()
        table = _rich_table(INCIDENT_HEADERS, title=incidents_line(report))
        _fill(table, incident_rows(report), console.width)
        console.print(table)
    if report.windows:
        console.print()
        table = _rich_table(WINDOW_HEADERS, title="Windows (UTC start)")
        rows = [window_cells(w, e, r, short=True) for w in report.windows for e, r in w.rows()]
        _fill(table, rows, console.width)
        console.print(table)


def render_profile(
    spec: ModelSpec, live: ModelLive, window: int, uptime_window: float, console: Console
) -> None:
    """The model profile as a person reads it: the card, the facts, one line per endpoint."""
    console.print(Text(model_heading(spec), style="bold cyan"))
    console.print(card_line(live, window))
    now = live.refreshed_at or datetime.now(UTC)
    if live.window_start is not None and live.window_end is not None:
        console.print(
            f"last complete window {span_text(live.window_start, live.window_end)} · "
            f"refreshed {utc_text(now, micros=False)}",
            style="dim",
        )
    else:
        console.print(
            "No data in the last complete window: no probe of this model is stored in it.",
            style="yellow",
        )
    facts = fact_rows(spec)
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
    table.columns[3].header = f"uptime {span_label(uptime_window)}"
    colours = {"up": "green", "degraded": "yellow", "down": "red", "unknown": "dim"}
    rows: list[list[str | Text]] = [
        [
            e.endpoint,
            where(e.provider, e.region),
            Text(e.status, style=colours.get(e.status, "")),
            percent(e.uptime_ratio),
            millis(e.ttft_p50_seconds),
            millis(e.ttft_p95_seconds),
            speed_cell(e.output_tokens_per_second_p50),
            NO_DATA if e.probes is None else f"{e.probes:,}",
            failures_text(e.failures_by_outcome),
            ago(e.last_probe_at, now),
        ]
        for e in live.endpoints
    ]
    _fill(table, rows, console.width)
    console.print(table)
    if located := location_rows(live):
        by_location = _rich_table(LOCATION_HEADERS, title=f"By location, {LOCATIONS_NOTE}")
        _fill(by_location, located, console.width)
        console.print(by_location)
