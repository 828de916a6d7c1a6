"""The daemon's per-window report files: ``report-YYYYMMDDTHHMMZ.md`` and ``.json`` for each
finished window, written atomically into ``reports.directory``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config import Config
from monitor.reports.build import build_report
from monitor.reports.formats import render_json, render_markdown
from monitor.service.aggregator import Snapshot, last_complete_window, settle_seconds
from monitor.store import Store


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
