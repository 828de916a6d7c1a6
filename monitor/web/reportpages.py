"""The finished windows' reports as pages and downloads: ``/reports`` (newest first, a page at
a time), ``/reports/{window}`` and its ``.md``, ``.csv`` and ``.json``, which are the texts that
``llm-monitor report --since START --until END --format ...`` writes for that window (the same
builder and renderers, ``monitor.reports``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.core.rollup import window_start
from monitor.reports.build import build_report
from monitor.reports.files import report_basename
from monitor.reports.formats import render_csv, render_json, render_markdown
from monitor.reports.model import Report
from monitor.service.view import MonitorView
from monitor.web.history import Caches
from monitor.web.pages import BadParameter, Frame, PageNotFound

#: Windows listed on one page of ``/reports``.
REPORTS_PER_PAGE = 50
#: The downloads: suffix → (renderer, content type).
DOWNLOADS = {
    "md": (render_markdown, "text/markdown; charset=utf-8"),
    "csv": (render_csv, "text/csv; charset=utf-8"),
    "json": (render_json, "application/json"),
}


def window_name(start: datetime, window: int) -> str:
    """``20250601T1200Z``: a window's name in URLs, as in the daemon's report file names."""
    return report_basename(start, window).removeprefix("report-")


def parse_window_name(name: str) -> datetime | None:
    """The start a window name gives (``20250601T1200Z`` or ``20250601T120005Z``), or None."""
    for pattern in ("%Y%m%dT%H%MZ", "%Y%m%dT%H%M%SZ"):
        try:
            return datetime.strptime(name, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class ReportLink:
    """A listed window and its name."""

    start: datetime
    end: datetime
    name: str


@dataclass(frozen=True, slots=True)
class ReportsPage:
    frame: Frame
    windows: tuple[ReportLink, ...]
    #: Where the next (older) page starts, if there is one.
    older: str | None
    #: Whether this is the first page (the newest windows).
    first: bool


def reports_page(view: MonitorView, f: Frame, before: str | None) -> ReportsPage:
    """The finished windows with rollups, newest first, ``REPORTS_PER_PAGE`` at a time; a
    page after the first starts before the window named ``before``."""
    until = f.end
    if before:
        start = parse_window_name(before)
        if start is None:
            raise BadParameter(f"before must name a window like 20250601T1200Z, not {before!r}")
        until = min(until, start)
    starts = view.store.rollup_window_starts(f.window, until=until, limit=REPORTS_PER_PAGE + 1)
    step = timedelta(seconds=f.window)
    links = tuple(
        ReportLink(s, s + step, window_name(s, f.window)) for s in starts[:REPORTS_PER_PAGE]
    )
    older = links[-1].name if len(starts) > REPORTS_PER_PAGE else None
    return ReportsPage(f, links, older, not before)


@dataclass(frozen=True, slots=True)
class ReportPage:
    frame: Frame
    report: Report
    name: str
    start: datetime
    end: datetime
    #: The names of the nearest earlier window with rollups and of the next window when it is
    #: finished and has rollups.
    previous: str | None
    following: str | None


def find_window(view: MonitorView, f: Frame, name: str) -> datetime:
    """The start of the finished window ``name`` that has rollups, or a 404 page saying why
    there is no report of it."""
    start = parse_window_name(name)
    title = "Unknown window"
    if start is None:
        raise PageNotFound(
            title,
            f"{name!r} does not name a window: names look like "
            f"{window_name(f.last_window, f.window)}.",
        )
    if window_start(start, f.window) != start:
        raise PageNotFound(
            title,
            f"{name!r} does not start a window: windows are "
            f"{f.window} seconds long, aligned on UTC.",
        )
    if start > f.last_window:
        raise PageNotFound(
            title,
            f"The window {name} is not finished yet: the last finished "
            f"one is {window_name(f.last_window, f.window)}.",
        )
    end = start + timedelta(seconds=f.window)
    if not view.store.rollup_windows(f.window, start, end):
        raise PageNotFound(
            title,
            f"No probe is stored in the window {name}: the monitor "
            "was not running then, or its probes were not kept.",
        )
    return start


def window_report(view: MonitorView, f: Frame, start: datetime, cache: Caches) -> Report:
    """The report of one window, as ``llm-monitor report`` builds it at the same moment: kept
    until the next window is published (a finished window's numbers change only when its
    probes are rolled up again), so that reading it and downloading it build it once."""

    def build() -> Report:
        return build_report(
            f.config,
            view.store,
            now=f.now,
            since=start,
            until=start + timedelta(seconds=f.window),
            window=f.window,
        )

    report: Report = cache.reports.get(f.version, ("report", start), build)
    return report


def report_page(view: MonitorView, f: Frame, name: str, cache: Caches) -> ReportPage:
    """One window's report as a page."""
    start = find_window(view, f, name)
    step = timedelta(seconds=f.window)
    earlier = view.store.rollup_window_starts(f.window, until=start, limit=1)
    later = start + step
    has_later = later <= f.last_window and view.store.rollup_windows(f.window, later, later + step)
    return ReportPage(
        f,
        window_report(view, f, start, cache),
        window_name(start, f.window),
        start,
        start + step,
        window_name(earlier[0], f.window) if earlier else None,
        window_name(later, f.window) if has_later else None,
    )


def report_download(
    view: MonitorView, f: Frame, name: str, suffix: str, cache: Caches
) -> tuple[str, str, str]:
    """The text of a window's report in the format of ``suffix``, its content type and its
    file name (``report-20250601T1200Z.md``, as the daemon's report files are named)."""
    start = find_window(view, f, name)
    render, content_type = DOWNLOADS[suffix]
    text: str = cache.reports.get(
        f.version, ("text", start, suffix), lambda: render(window_report(view, f, start, cache))
    )
    return text, content_type, f"{report_basename(start, f.window)}.{suffix}"
