"""The Jinja2 environment of the pages: the templates and static files shipped in the package,
autoescaping on, and the filters that make a number read as it does in the terminal and in
the reports (``monitor.reports.text``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from monitor import __version__
from monitor.core.shape import utc_text
from monitor.core.spend import usd
from monitor.reports import cells
from monitor.reports.text import (
    ago,
    card_line,
    every,
    failures_text,
    millis,
    model_heading,
    percent,
    pricing_line,
    span_text,
    tokens_per_second,
)

#: The static files and their content types.
STATIC_TYPES = {
    "pages.css": "text/css; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    """A static file held in memory, with its content hash (its URL's version)."""

    body: bytes
    content_type: str
    digest: str


def load_static() -> dict[str, StaticFile]:
    """The package's static files by name."""
    folder = resources.files("monitor.web").joinpath("static")
    files = {}
    for name, content_type in STATIC_TYPES.items():
        body = folder.joinpath(name).read_bytes()
        files[name] = StaticFile(body, content_type, hashlib.sha256(body).hexdigest()[:12])
    return files


def time_tag(moment: datetime | None, *, seconds: bool = True, empty: str = "—") -> Markup:
    """``<time datetime="…Z">2025-06-01 12:00:05 UTC</time>``: UTC text that the page's script
    gives the reader's local time as a tooltip."""
    if moment is None:
        return Markup(escape(empty))
    shown = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return Markup(f'<time datetime="{utc_text(moment, micros=False)}">{escape(shown)} UTC</time>')


def span_tag(since: datetime, until: datetime) -> Markup:
    """A span of time, its start as a ``<time>`` (``2025-06-01 12:00 – 12:30 UTC``)."""
    text = span_text(since, until)
    start, _, rest = text.partition(" – ")
    return Markup(
        f'<time datetime="{utc_text(since, micros=False)}">{escape(start)}</time> – {escape(rest)}'
    )


def ago_tag(moment: datetime | None, now: datetime) -> Markup:
    """``12s ago`` inside a ``<time>`` whose tooltip (by the script) is the local time."""
    if moment is None:
        return Markup("—")
    return Markup(
        f'<time datetime="{utc_text(moment, micros=False)}" '
        f'data-utc="{escape(utc_text(moment, micros=False))}">{escape(ago(moment, now))}</time>'
    )


def number(value: float | int | None) -> str:
    """A value as its exact text for a data attribute ("" when unknown): Python's repr of a
    float reads back as the same float, as the API's JSON does."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def make_environment(static: dict[str, StaticFile]) -> Environment:
    """The pages' environment (autoescaping every template)."""
    env = Environment(
        loader=PackageLoader("monitor.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        percent=percent,
        millis=millis,
        tok_s=tokens_per_second,
        every=every,
        number=number,
        time=time_tag,
    )
    env.globals.update(
        version=__version__,
        static_url=lambda name: f"/static/{name}?v={static[name].digest}",
        time_tag=time_tag,
        span_tag=span_tag,
        ago_tag=ago_tag,
        time_attr=lambda moment: utc_text(moment, micros=False),
        failures_text=failures_text,
        usd=usd,
        zip=zip,
        # The report's words and cells, as the terminal and Markdown write them.
        report_title=cells.title,
        report_subtitle=cells.subtitle,
        summary_headers=cells.SUMMARY_HEADERS,
        window_headers=cells.WINDOW_HEADERS,
        columns=cells.COLUMNS,
        summary_cells=cells.summary_cells,
        summary_table=cells.summary_table,
        spend_line=cells.spend_line,
        lasted=cells.lasted,
        incidents_line=cells.incidents_line,
        incident_headers=cells.INCIDENT_HEADERS,
        incident_rows=cells.incident_rows,
        window_cells=cells.window_cells,
        no_data_line=cells.NO_DATA_LINE,
        from_rollups=cells.FROM_ROLLUPS,
        model_heading=model_heading,
        pricing_line=pricing_line,
        card_line=card_line,
    )
    return env
