"""The registry of the daemon's metric families and the ``/metrics`` body it serves.

``MetricsRegistry`` keeps families in the order they were registered and writes their
exposition text itself (see ``monitor.metrics.families``): prometheus_client's writers build a
sample object and a label dict per sample and escape every label set again on each scrape,
about a second of work (holding the GIL, so the measuring loop's timestamps are late) at a
thousand endpoints. prometheus_client still decides the format from the ``Accept`` header
(``choose_encoder``), and writes the formats this package does not (an escaping scheme other
than underscores, OpenMetrics other than 1.0.0) from the registry's ``collect()``.

The body is written in chunks of about half a megabyte (``chunks``), which the server sends as they
are made: at 5,000 endpoints the text is about 90 MB, and joining it whole held its lines, the
string and the bytes in memory at once (a quarter of a gigabyte for every scrape).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

from monitor.metrics.families import Exposed
from monitor.metrics.text import Numbers


class MetricsRegistry(Collector):
    """Collectors in registration order. Any prometheus_client collector may be registered;
    with only ``Exposed`` ones (the monitor's) the registry writes its text itself."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._collectors: list[Collector] = []
        self._names: set[str] = set()
        #: Expositions being written now (``chunks`` started and neither finished nor closed).
        self._writing = 0
        self._quiet = threading.Condition()

    def register(self, collector: Collector) -> None:
        """Add ``collector``; ValueError if one of its family names is registered already."""
        describe = getattr(collector, "describe", None)
        names = {family.name for family in describe()} if describe is not None else set()
        with self._mutex:
            if taken := sorted(names & self._names):
                raise ValueError(f"metric families registered twice: {', '.join(taken)}")
            self._names |= names
            self._collectors.append(collector)

    def collect(self) -> Iterable[Metric]:
        """Every family, as prometheus_client metric families."""
        with self._mutex:
            collectors = list(self._collectors)
        for collector in collectors:
            yield from collector.collect()

    def render(self, openmetrics: bool) -> bytes | None:
        """The exposition text (OpenMetrics 1.0.0 or text 0.0.4); None if a collector that is
        not ``Exposed`` is registered (then prometheus_client's writers must do it)."""
        chunks = self.chunks(openmetrics)
        return None if chunks is None else b"".join(chunks)

    def chunks(self, openmetrics: bool) -> Iterator[bytes] | None:
        """``render``'s text in chunks of about ``CHUNK_CHARS`` characters, made as they are
        read; None as ``render``."""
        with self._mutex:
            collectors = list(self._collectors)
        exposed = [c for c in collectors if isinstance(c, Exposed)]
        if len(exposed) != len(collectors):
            return None
        return self._counted(_chunks(exposed, openmetrics))

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until no exposition is being written, at most ``timeout`` seconds; whether none
        is. Background work that can wait (the daemon's window job) calls it between its steps,
        so that a scrape has the interpreter to itself instead of sharing it."""
        with self._quiet:
            return self._quiet.wait_for(lambda: self._writing == 0, timeout)

    def _counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """``chunks``, counted in ``_writing`` from the first one made until they are all
        made or the reader closes them."""
        with self._quiet:
            self._writing += 1
        try:
            yield from chunks
        finally:
            with self._quiet:
                self._writing -= 1
                self._quiet.notify_all()


#: Characters of text joined into one chunk of the body (a part of a family more may be
#: added to it). Counted, not estimated from the number of lines: a chunk of 32,768 counter
#: lines was 4 MB, held three times over (lines, joined text, bytes) while it was made.
CHUNK_CHARS = 512 * 1024


def _chunks(collectors: list[Exposed], openmetrics: bool) -> Iterator[bytes]:
    number = Numbers()
    pending: list[str] = []
    size = 0
    for collector in collectors:
        for part in collector.parts(openmetrics, number):
            pending += part
            size += sum(map(len, part))
            if size >= CHUNK_CHARS:
                yield "".join(pending).encode("utf-8")
                pending = []
                size = 0
    if openmetrics:
        pending.append("# EOF\n")
    if pending:
        yield "".join(pending).encode("utf-8")


def _written_format(encoder: Callable[[Collector], bytes]) -> bool | None:
    """True: OpenMetrics 1.0.0; False: the text format; None: a format the registry leaves
    to prometheus_client. Names are never escaped here, since every name the registry writes
    is a legacy one, which the underscores scheme leaves as it is."""
    if encoder is generate_latest:
        return False
    if not isinstance(encoder, functools.partial) or encoder.args:
        return None
    underscores = openmetrics.UNDERSCORES
    if encoder.func is generate_latest and encoder.keywords == {"escaping": underscores}:
        return False
    if encoder.func is openmetrics.generate_latest and encoder.keywords == {
        "escaping": underscores,
        "version": "1.0.0",
    }:
        return True
    return None


def exposition(source: Collector, accept: str = "") -> tuple[bytes, str]:
    """The ``/metrics`` body and content type for ``accept`` (prometheus_client's
    negotiation). ``source`` is a ``MetricsRegistry``, or any prometheus_client collector
    (a ``CollectorRegistry``), which prometheus_client then writes."""
    chunks, content_type = exposition_chunks(source, accept)
    return b"".join(chunks), content_type


def exposition_chunks(source: Collector, accept: str = "") -> tuple[Iterator[bytes], str]:
    """``exposition``'s body in chunks made as they are read (a ``MetricsRegistry`` in the
    formats it writes itself), or in one."""
    encoder, content_type = choose_encoder(accept)
    if isinstance(source, MetricsRegistry):
        openmetrics_format = _written_format(encoder)
        if openmetrics_format is not None:
            chunks = source.chunks(openmetrics_format)
            if chunks is not None:
                return chunks, content_type
    return iter([encoder(source)]), content_type
