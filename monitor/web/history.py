"""The windows behind the pages' bars and charts: each endpoint's stored window points cut
into cells of one or several windows (pure), and the cache that keeps what was drawn from them
until the next window is published.

A cell holds one window, or several when a span has more windows than a bar or a chart can
show (a bar has at most ``MAX_BAR_CELLS`` cells, a chart's line at most ``MAX_CHART_POINTS``
points). A cell of several windows is summed exactly where sums are exact, and summarised by a
median where they are not:

- **uptime** is the cell's successes ÷ its counted probes (successes and down outcomes), which
  is the uptime of all of its probes, as if the cell were one window;
- **TTFT p50, TTFT p95 and output speed p50** are the medians of its windows' p50 (and p95):
  percentiles of different windows cannot be combined into the percentile of their probes, and
  the median of the windows' values keeps a single odd window from moving the cell. The charts
  say so in their captions.

A cell in which no window has a rollup has no data: it is drawn apart from a cell of 0 %.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.store import WindowPoint

#: Most cells in an uptime bar: a day of 15-minute windows, one cell each.
MAX_BAR_CELLS = 96
#: Most points in one line of a chart.
MAX_CHART_POINTS = 300


@dataclass(frozen=True, slots=True)
class Cell:
    """One or several consecutive windows of one endpoint: ``[start, end)``."""

    start: datetime
    end: datetime
    #: Windows in the cell with a rollup (0: no data).
    windows: int
    probes: int
    successes: int
    counted: int
    ttft_p50: float | None
    ttft_p95: float | None
    speed_p50: float | None

    @property
    def has_data(self) -> bool:
        """Whether any window of the cell has a rollup."""
        return self.windows > 0

    @property
    def uptime(self) -> float | None:
        """Successes ÷ counted probes; None without counted probes."""
        return self.successes / self.counted if self.counted else None

    @property
    def middle(self) -> datetime:
        """The middle of the cell, where a chart puts its point."""
        return self.start + (self.end - self.start) / 2


@dataclass(frozen=True, slots=True)
class Span:
    """The cells' layout over a span that ends at ``until``: ``count`` cells of ``size``."""

    until: datetime
    #: Seconds per cell.
    size: int
    count: int
    windows_per_cell: int

    @property
    def since(self) -> datetime:
        """The start of the first cell."""
        return self.until - timedelta(seconds=self.size * self.count)


def span(until: datetime, seconds: int, window: int, max_cells: int) -> Span:
    """Cells of whole windows covering at least the ``seconds`` before ``until`` (a window
    boundary), at most ``max_cells`` of them, the last one ending at ``until``. A cell of
    several windows is a length that divides a day (15 minutes, 3 hours, ...) or a number of
    whole days, so that it reads as a round span."""
    windows = max(1, math.ceil(seconds / window))
    needed = math.ceil(windows / max_cells)
    per_day = 86_400 // window
    if needed <= per_day:
        per_cell = next(k for k in range(needed, per_day + 1) if per_day % k == 0)
    else:
        per_cell = math.ceil(needed / per_day) * per_day
    count = math.ceil(windows / per_cell)
    return Span(until=until, size=window * per_cell, count=count, windows_per_cell=per_cell)


def cells(points: Iterable[WindowPoint], layout: Span) -> list[Cell]:
    """The cells of one endpoint's window points (any order; those outside the span are left
    out), oldest first."""
    since = layout.since
    size = timedelta(seconds=layout.size)
    grouped: list[list[WindowPoint]] = [[] for _ in range(layout.count)]
    for point in points:
        index = (point.window_start - since) // size
        if 0 <= index < layout.count:
            grouped[index].append(point)
    return [
        _cell(since + i * size, since + (i + 1) * size, group) for i, group in enumerate(grouped)
    ]


def _cell(start: datetime, end: datetime, group: Sequence[WindowPoint]) -> Cell:
    if len(group) == 1:
        (p,) = group
        return Cell(
            start, end, 1, p.probes, p.successes, p.counted, p.ttft_p50, p.ttft_p95, p.speed_p50
        )
    return Cell(
        start=start,
        end=end,
        windows=len(group),
        probes=sum(p.probes for p in group),
        successes=sum(p.successes for p in group),
        counted=sum(p.counted for p in group),
        ttft_p50=_median([p.ttft_p50 for p in group if p.ttft_p50 is not None]),
        ttft_p95=_median([p.ttft_p95 for p in group if p.ttft_p95 is not None]),
        speed_p50=_median([p.speed_p50 for p in group if p.speed_p50 is not None]),
    )


def _median(known: list[float]) -> float | None:
    return statistics.median(known) if known else None


def by_endpoint(points: Iterable[WindowPoint]) -> dict[str, list[WindowPoint]]:
    """Window points grouped by endpoint."""
    grouped: dict[str, list[WindowPoint]] = {}
    for point in points:
        grouped.setdefault(point.endpoint, []).append(point)
    return grouped


class WindowCache:
    """What the pages draw from stored windows (bars, charts), kept while the data they come
    from stays the same: until the next window is published, or the config changes.

    ``version`` says which data a value was made from; a lookup with another version empties
    the cache first. Values are made outside the lock (two threads may make the same value at
    once; both are right), and at most ``max_entries`` are kept, the least recently used
    leaving first."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._lock = threading.Lock()
        self._version: Hashable = None
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._max = max_entries
        #: Hits and misses since the start, for the tests and the timing checks.
        self.hits = 0
        self.misses = 0

    def get(self, version: Hashable, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value of ``key`` for ``version``, made by ``make`` if it is not kept."""
        found = self.get_many(version, [key], lambda missing: {k: make() for k in missing})
        return found[key]

    def get_many(
        self,
        version: Hashable,
        keys: Sequence[Hashable],
        make: Callable[[list[Hashable]], dict[Hashable, Any]],
    ) -> dict[Hashable, Any]:
        """The values of ``keys`` for ``version``; ``make`` gets the missing keys at once
        (one store read for all of them) and returns a value for each."""
        found: dict[Hashable, Any] = {}
        missing: list[Hashable] = []
        with self._lock:
            if version != self._version:
                self._values.clear()
                self._version = version
            for key in keys:
                if key in self._values:
                    self._values.move_to_end(key)
                    found[key] = self._values[key]
                else:
                    missing.append(key)
            self.hits += len(found)
            self.misses += len(missing)
        if not missing:
            return found
        made = make(missing)
        with self._lock:
            if version == self._version:
                for key in missing:
                    self._values[key] = made[key]
                while len(self._values) > self._max:
                    self._values.popitem(last=False)
        found.update((key, made[key]) for key in missing)
        return found


@dataclass(frozen=True, slots=True)
class Caches:
    """The pages' caches, each bounded to what its values weigh: an endpoint's strip is a few
    kilobytes (one per endpoint is kept), a set of charts up to a few hundred, a report up to
    a megabyte."""

    strips: WindowCache = field(default_factory=lambda: WindowCache(max_entries=20_000))
    charts: WindowCache = field(default_factory=lambda: WindowCache(max_entries=48))
    reports: WindowCache = field(default_factory=lambda: WindowCache(max_entries=16))
