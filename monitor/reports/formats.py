"""The report as files: JSON (its one definition, ``monitor.reports.model``), Markdown, and CSV
with one row per stored rollup. None of these needs a terminal library."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

from monitor.core.outcomes import Outcome
from monitor.core.shape import dump, utc_text
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
    spend_line,
    subtitle,
    summary_table,
    title,
    window_cells,
)
from monitor.reports.model import Report
from monitor.reports.text import card_line, model_heading, pricing_line

#: Outcomes other than success, in a fixed order (CSV columns, failure lists).
FAILURE_OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome if o is not Outcome.SUCCESS)


def render_json(report: Report) -> str:
    """The report as indented JSON (``Report``'s JSON), ending with a newline."""
    return json.dumps(dump(report), indent=2, ensure_ascii=False) + "\n"


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    aligns = ("---:" if COLUMNS.get(h, (False, False))[0] else "---" for h in headers)
    return [_md_row(headers), "|" + "|".join(aligns) + "|", *(_md_row(r) for r in rows)]


def render_markdown(report: Report) -> str:
    """The report as a Markdown document."""
    out = [f"# {title(report)}", "", subtitle(report), ""]
    if not report.has_data:
        out += [f"**{NO_DATA_LINE}**", ""]
    if (spend := spend_line(report)) is not None:
        out += [spend, ""]
    for m in report.models:
        out += [f"## {model_heading(m.spec)}", "", card_line(m.live, report.window_seconds), ""]
        if (prices := pricing_line(m.spec)) is not None:
            out += [f"Pricing: {prices}", ""]
        out += _md_table(*summary_table(m.summaries))
        out.append("")
        if any(s.source == "rollups" for s in m.summaries):
            out += [f"\\{FROM_ROLLUPS}", ""]
        if kinds := kind_rows(m.live):
            out += [f"{KINDS_NOTE}:", "", *_md_table(KIND_HEADERS, kinds), ""]
        if located := location_rows(m.live):
            out += [
                f"By location, {LOCATIONS_NOTE}:",
                "",
                *_md_table(LOCATION_HEADERS, located),
                "",
            ]
    if report.incidents.incidents:
        out += ["## Incidents", "", incidents_line(report), ""]
        out += [*_md_table(INCIDENT_HEADERS, incident_rows(report)), ""]
    if report.windows:
        rows = [window_cells(w, e, r) for w in report.windows for e, r in w.rows()]
        out += ["## Windows", "", *_md_table(WINDOW_HEADERS, rows), ""]
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
                    utc_text(w.window_start),
                    utc_text(w.window_end),
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
