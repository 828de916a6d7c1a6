"""Counter, gauge and histogram families: their series' values and their exposition text.

A family holds one series per label set, made by ``labels(...)`` (the daemon makes every
endpoint's series when it declares the endpoints, so their objects and text exist before it
freezes its start-up objects). A series keeps its value (a histogram: bucket counts and sum),
changed under its family's lock (one lock object per series was 9 MB at 5,000 endpoints), and
the text that starts each of its sample lines, built once when the series is made: a scrape
only formats numbers.

Each family is also a prometheus_client collector (``collect()`` yields its public metric
family types), so it can be registered in a ``prometheus_client.CollectorRegistry`` and read
with prometheus_client's own tools.
"""

from __future__ import annotations

import bisect
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from itertools import accumulate
from operator import add, attrgetter
from typing import Generic, TypeVar

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from monitor.metrics.names import Spec
from monitor.metrics.text import (
    COUNT_LINE,
    Numbers,
    check_spec,
    escape_value,
    headers,
    label_text,
    number_text,
    split_label_text,
)

#: Series per part of a family's text: a scrape is written part by part (see
#: ``MetricsRegistry.chunks``), so that its text never sits in memory whole.
PART_SERIES = 128


class Exposed(ABC):
    """What a ``MetricsRegistry`` writes itself: families whose text it can render."""

    @abstractmethod
    def render(self, out: list[str], openmetrics: bool, number: Numbers) -> None:
        """Append the exposition text to ``out`` (``number`` formats the values)."""

    def parts(self, openmetrics: bool, number: Numbers) -> Iterator[list[str]]:
        """The exposition text in parts, in order (here: all of it in one)."""
        out: list[str] = []
        self.render(out, openmetrics, number)
        yield out

    @abstractmethod
    def collect(self) -> Iterable[Metric]:
        """The same samples as prometheus_client metric families."""

    @abstractmethod
    def describe(self) -> Iterable[Metric]:
        """The families without samples (names, for duplicate checks)."""


class CounterSeries:
    """One counter series: a value that only goes up."""

    __slots__ = ("_mutex", "line", "tail", "value")

    def __init__(self, line: str, mutex: threading.Lock, tail: str = "") -> None:
        self._mutex = mutex
        #: ``line + tail`` is ``name_total{labels} `` (the sample line without its value). In a
        #: family whose last label tells a series of one endpoint from another (an outcome, a
        #: reason), ``line`` ends at that label's value and is one string for all of them, and
        #: ``tail`` is the value and the rest, one string for every endpoint.
        self.line = line
        self.tail = tail
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (not negative)."""
        if amount < 0:
            raise ValueError(f"a counter only goes up: cannot add {amount}")
        with self._mutex:
            self.value += amount


#: ``GaugeSeries.said`` before its first scrape: no value is this.
_UNSAID: tuple[float | None, str] = (None, "")


class GaugeSeries:
    """One gauge series: a value that is set."""

    __slots__ = ("_mutex", "line", "said", "value")

    def __init__(self, line: str, mutex: threading.Lock) -> None:
        self._mutex = mutex
        self.line = line
        self.value = 0.0
        #: The value as last written and its whole line: written again as it was while the
        #: value is the same float object (``set`` and ``inc`` make a new one). Made by the
        #: first scrape, not here at start-up.
        self.said: tuple[float | None, str] = _UNSAID

    def set(self, value: float) -> None:
        """Make the value ``value``."""
        with self._mutex:
            self.value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (negative to take away)."""
        with self._mutex:
            self.value += amount


class HistogramSeries:
    """One histogram series: observation counts per bucket and their sum."""

    __slots__ = ("_bounds", "_mutex", "after", "before", "counts", "labels", "said", "sum")

    def __init__(
        self,
        bounds: list[float],
        name: str,
        pairs: list[tuple[str, str]],
        mutex: threading.Lock,
    ) -> None:
        self._mutex = mutex
        self._bounds = bounds
        #: Observations per bucket (not cumulative), the last one ``+Inf``'s.
        self.counts = [0] * len(bounds)
        self.sum = 0.0
        before, after = split_label_text(pairs, "le")
        #: A bucket's line is before + bound + after + cumulative count. ``after`` (the labels
        #: that sort after ``le``, such as location, model and provider) is the same text for
        #: many series: one string serves them all.
        self.before = f"{name}_bucket{before}"
        self.after = sys.intern(f"{after} ")
        #: ``{labels} ``: the ``_count`` and ``_sum`` lines are the family's name + suffix, this
        #: and the value.
        self.labels = f"{label_text(pairs)} "
        #: The sum as last written and its text: a sum unchanged since (the same float object:
        #: ``observe`` makes a new one) is not formatted again. At a 60 s interval and 15 s
        #: scrapes, three series in four were not observed in between.
        self.said = (self.sum, "0.0")

    def observe(self, value: float) -> None:
        """Count one observation of ``value`` (NaN adds to the sum alone, as in Prometheus's
        clients: it is below no bound)."""
        with self._mutex:
            self.sum += value
            if value == value:
                self.counts[bisect.bisect_left(self._bounds, value)] += 1

    def read(self) -> tuple[list[int], float]:
        """The bucket counts and the sum, at one moment."""
        with self._mutex:
            return list(self.counts), self.sum


S = TypeVar("S", CounterSeries, GaugeSeries, HistogramSeries)

_line = attrgetter("line")
_tail = attrgetter("tail")
_value = attrgetter("value")
#: Label sets after ``le`` whose line ends a histogram family keeps (past them, the ends are
#: made at each scrape).
_TAILS = 256
#: Counts whose line ends an ``_Ends`` keeps.
_END_COUNTS = 64


class _Ends(dict[int, str]):
    """The ends of one bucket's lines for one label set after ``le``, by cumulative count:
    bound, the labels after ``le``, the count and a newline. Kept to the latest ``_END_COUNTS``
    counts (counts only grow, so older ones stop recurring)."""

    __slots__ = ("middle",)

    def __init__(self, middle: str) -> None:
        super().__init__()
        self.middle = middle

    def __missing__(self, count: int) -> str:
        if len(self) >= _END_COUNTS:
            self.clear()
        end = self[count] = self.middle + COUNT_LINE[count]
        return end


#: ``_end(ends, count)``: a dict lookup that calls ``__missing__``, usable in ``map``.
_end = dict.__getitem__


class _Family(Exposed, Generic[S]):
    """Series by label values, in the order they were made."""

    def __init__(self, spec: Spec) -> None:
        check_spec(spec)
        self.spec = spec
        self.name = spec.name
        #: Guards the series by label values, and every series changes its value under it.
        self._mutex = threading.Lock()
        self._series: dict[tuple[str, ...], S] = {}
        self._headers = headers(spec)
        if not spec.labels:
            self._series[()] = self._make(())

    @abstractmethod
    def _make(self, label_values: tuple[str, ...]) -> S:
        """A new series of these label values."""

    def labels(self, *label_values: str) -> S:
        """The series of these label values (in the order of the spec's label names), made
        on first use."""
        series = self._series.get(label_values)
        if series is not None:
            return series
        values = tuple(str(value) for value in label_values)
        if len(values) != len(self.spec.labels):
            raise ValueError(
                f"{self.name} takes label values for {self.spec.labels}, got {label_values}"
            )
        with self._mutex:
            series = self._series.get(values)
            if series is None:
                series = self._series[values] = self._make(values)
        return series

    def remove(self, *label_values: str) -> None:
        """Drop the series of these label values (nothing happens if there is none)."""
        if self.spec.labels:
            with self._mutex:
                self._series.pop(tuple(str(value) for value in label_values), None)

    def _unlabelled(self) -> S:
        if self.spec.labels:
            raise ValueError(f"{self.name} has labels {self.spec.labels}: use labels(...)")
        return self._series[()]

    def _items(self) -> list[tuple[tuple[str, ...], S]]:
        with self._mutex:
            return list(self._series.items())

    def _all(self) -> list[S]:
        with self._mutex:
            return list(self._series.values())

    def _pairs(self, label_values: tuple[str, ...]) -> list[tuple[str, str]]:
        return list(zip(self.spec.labels, label_values, strict=True))

    def render(self, out: list[str], openmetrics: bool, number: Numbers) -> None:
        """Append the family's text."""
        for part in self.parts(openmetrics, number):
            out += part

    def parts(self, openmetrics: bool, number: Numbers) -> Iterator[list[str]]:
        """The header, then the lines of ``PART_SERIES`` series at a time."""
        every = self._all()
        out = [self._headers[openmetrics]]
        for first in range(0, max(len(every), 1), PART_SERIES):
            self._lines(every[first : first + PART_SERIES], out, number)
            yield out
            out = []

    @abstractmethod
    def _lines(self, series: list[S], out: list[str], number: Numbers) -> None:
        """Append the sample lines of ``series``."""

    def describe(self) -> Iterable[Metric]:
        """The family without samples."""
        return [self._family()]

    @abstractmethod
    def _family(self) -> Metric:
        """The prometheus_client family, without samples."""


class CounterFamily(_Family[CounterSeries]):
    """A counter family (samples ``name_total``)."""

    def __init__(self, spec: Spec) -> None:
        #: The label whose values cut a series' text in two (``CounterSeries.tail``): the last
        #: of two or more, such as ``outcome`` (14 series per endpoint in ``probes``).
        self._split = spec.labels[-1] if len(spec.labels) > 1 else None
        #: The text before the split label's value of the last series made, by the other
        #: label values: an endpoint's series are made one after another.
        self._last_line: tuple[tuple[str, ...], str] = ((), "")
        super().__init__(spec)

    def _make(self, label_values: tuple[str, ...]) -> CounterSeries:
        pairs = self._pairs(label_values)
        if self._split is None:
            return CounterSeries(f"{self.name}_total{label_text(pairs)} ", self._mutex)
        rest = label_values[:-1]
        before, after = split_label_text(pairs[:-1], self._split)
        line = self._last_line[1] if self._last_line[0] == rest else f"{self.name}_total{before}"
        self._last_line = (rest, line)
        tail = sys.intern(f"{escape_value(label_values[-1])}{after} ")
        return CounterSeries(line, self._mutex, tail)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to the series of a family without labels."""
        self._unlabelled().inc(amount)

    def _lines(self, series: list[CounterSeries], out: list[str], number: Numbers) -> None:
        # Mapped in C, no Python call per series (a scrape of 5,000 endpoints has 100,000
        # counter lines); a value read without the lock is one the series had.
        lines = map(_line, series)
        if self._split is not None:
            lines = map(add, lines, map(_tail, series))
        out += map(add, lines, map(number.line, map(_value, series)))

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.spec.help, labels=self.spec.labels)

    def collect(self) -> Iterable[Metric]:
        """A prometheus_client ``CounterMetricFamily``."""
        family = self._family()
        for label_values, series in self._items():
            family.add_metric(label_values, series.value)
        return [family]


class GaugeFamily(_Family[GaugeSeries]):
    """A gauge family."""

    def _make(self, label_values: tuple[str, ...]) -> GaugeSeries:
        return GaugeSeries(f"{self.name}{label_text(self._pairs(label_values))} ", self._mutex)

    def set(self, value: float) -> None:
        """Set the series of a family without labels."""
        self._unlabelled().set(value)

    def _lines(self, series: list[GaugeSeries], out: list[str], number: Numbers) -> None:
        text = number.text  # a gauge may be -0.0, which ``number.line`` would write as 0.0
        for one in series:
            value, said = one.value, one.said
            if said[0] is value:
                out.append(said[1])
            else:
                line = f"{one.line}{text(value)}\n"
                one.said = (value, line)  # one assignment: a tuple, never half-made
                out.append(line)

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.spec.help, labels=self.spec.labels)

    def collect(self) -> Iterable[Metric]:
        """A prometheus_client ``GaugeMetricFamily``."""
        family = self._family()
        for label_values, series in self._items():
            family.add_metric(label_values, series.value)
        return [family]


class HistogramFamily(_Family[HistogramSeries]):
    """A histogram family (samples ``_bucket`` by ``le``, ``_count``, ``_sum``)."""

    def __init__(self, spec: Spec) -> None:
        self._bounds = [*spec.buckets, float("inf")]
        self._bound_texts = [number_text(bound) for bound in self._bounds]
        #: By a series' ``after``: per bucket, the ends of its lines by cumulative count.
        self._tails: dict[str, list[_Ends]] = {}
        super().__init__(spec)

    def _make(self, label_values: tuple[str, ...]) -> HistogramSeries:
        return HistogramSeries(self._bounds, self.name, self._pairs(label_values), self._mutex)

    def observe(self, value: float) -> None:
        """Observe ``value`` in the series of a family without labels."""
        self._unlabelled().observe(value)

    def _ends(self, after: str) -> list[_Ends]:
        ends = self._tails.get(after)
        if ends is None:
            ends = [_Ends(bound + after) for bound in self._bound_texts]
            if len(self._tails) < _TAILS:
                self._tails[after] = ends
        return ends

    def _lines(self, series: list[HistogramSeries], out: list[str], number: Numbers) -> None:
        # A bucket line is ``before`` + bound + ``after`` + cumulative count + newline. The
        # ends (all but ``before``) are looked up by bucket and count in C (accumulate, map)
        # and joined with the series' ``before`` between them: no Python step per bucket line,
        # which was most of a scrape's work (111 bucket lines per endpoint). Series of one
        # label set after ``le`` mostly share their counts, so their ends are shared strings.
        append, extend, count_line = out.append, out.extend, COUNT_LINE.__getitem__
        count_name, sum_name = f"{self.name}_count", f"{self.name}_sum"
        with self._mutex:  # each series' counts and sum at one moment
            read = [(list(accumulate(one.counts)), one.sum) for one in series]
        for one, (cumulative, total_sum) in zip(series, read, strict=True):
            before, labels = one.before, one.labels
            append(before)
            append(before.join(map(_end, self._ends(one.after), cumulative)))
            extend((count_name, labels, count_line(cumulative[-1])))
            said = one.said
            if said[0] is total_sum:
                sum_text = said[1]
            else:
                sum_text = number.text(total_sum)
                one.said = (total_sum, sum_text)  # one assignment: a tuple, never half-made
            extend((sum_name, labels, sum_text, "\n"))

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.spec.help, labels=self.spec.labels)

    def collect(self) -> Iterable[Metric]:
        """A prometheus_client ``HistogramMetricFamily``."""
        family = self._family()
        for label_values, series in self._items():
            counts, total_sum = series.read()
            cumulative: list[tuple[str, float]] = []
            total = 0
            for bound, count in zip(self._bound_texts, counts, strict=True):
                total += count
                cumulative.append((bound, float(total)))
            family.add_metric(label_values, cumulative, total_sum)
        return [family]
