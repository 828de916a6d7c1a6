"""Where probe results go: one log line, the metrics, and batched writes to the store.

All of it happens on the sink's own thread, never on the measuring loop: ``submit`` only puts
the result on a queue. Store writes are batched; when the store fails, results wait in a bounded
buffer and are written after it recovers, oldest first, and each failure is counted. Only when
the buffer is full are the oldest results dropped (and counted), so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import structlog

from monitor.logs import log_probe
from monitor.metrics import ProbeMetrics
from monitor.result import ProbeResult


class ProbeWriter(Protocol):
    """The part of the store the sink uses."""

    def add_probes(self, results: list[ProbeResult]) -> int:
        """Insert probes (idempotent on probe_id)."""


_STOP = object()


class ResultSink:
    """Consumes probe results on a thread of its own."""

    def __init__(
        self,
        writer: ProbeWriter | None,
        metrics: ProbeMetrics | None,
        *,
        logger: Any = None,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_buffer: int = 100_000,
        retry_interval: float = 2.0,
        on_written: Callable[[list[ProbeResult]], None] = lambda results: None,
        on_result: Callable[[ProbeResult], None] = lambda result: None,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._logger = logger if logger is not None else structlog.get_logger("llm_monitor.probe")
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval
        self._on_written = on_written
        self._on_result = on_result
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._buffer: deque[ProbeResult] = deque()
        self._max_buffer = max_buffer
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._received = 0
        self._handled = 0
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0
        self.store_healthy = True
        self.last_error: str | None = None

    def start(self) -> None:
        """Start the sink thread."""
        self._thread = threading.Thread(target=self._run, name="llm-monitor-sink", daemon=True)
        self._thread.start()

    def submit(self, result: ProbeResult) -> None:
        """Hand over one result (cheap and thread-safe)."""
        with self._lock:
            self._received += 1
        self._queue.put(result)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every result submitted so far is logged, counted and written (or buffered
        after a store failure); True if that happened within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._idle:
            target = self._received
            while self._handled < target or (self._buffer and self.store_healthy):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.put(None)  # wake the thread for an early write
                self._idle.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is pending (within ``timeout``) and stop the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    @property
    def pending(self) -> int:
        """Results waiting to be written."""
        return len(self._buffer)

    def _run(self) -> None:
        next_write = time.monotonic() + self._flush_interval
        stopping = False
        while True:
            timeout = max(next_write - time.monotonic(), 0.0)
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                stopping = True
            elif isinstance(item, ProbeResult):
                self._accept(item)
            # Drain what else is queued without waiting, so one write takes a whole burst.
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                elif isinstance(more, ProbeResult):
                    self._accept(more)
            now = time.monotonic()
            due = now >= next_write or len(self._buffer) >= self._batch_size or item is None
            if self._buffer and (due or stopping):
                ok = self._write_all()
                next_write = now + (self._flush_interval if ok else self._retry_interval)
            elif now >= next_write:
                next_write = now + self._flush_interval
            with self._idle:
                self._idle.notify_all()
            if stopping:
                return

    def _accept(self, result: ProbeResult) -> None:
        try:
            log_probe(self._logger, result)
            if self._metrics is not None:
                self._metrics.observe(result)
            self._on_result(result)
        finally:
            if self._writer is not None:
                self._buffer.append(result)
                if len(self._buffer) > self._max_buffer:
                    self._buffer.popleft()
                    self.dropped += 1
            with self._lock:
                self._handled += 1

    def _write_all(self) -> bool:
        assert self._writer is not None
        while self._buffer:
            batch = list(_take(self._buffer, self._batch_size))
            try:
                self._writer.add_probes(batch)
            except Exception as exc:  # any store failure: keep the batch and retry later
                self._buffer.extendleft(reversed(batch))
                self.store_healthy = False
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self._metrics is not None:
                    self._metrics.storage_errors.inc()
                self._logger.error("store write failed", error=self.last_error,
                                   pending=len(self._buffer))  # fmt: skip
                return False
            self.written += len(batch)
            if not self.store_healthy:
                self._logger.info("store writes recovered", pending=len(self._buffer))
            self.store_healthy = True
            self.last_error = None
            self._on_written(batch)
        return True


def _take(buffer: deque[ProbeResult], count: int) -> Iterable[ProbeResult]:
    for _ in range(min(count, len(buffer))):
        yield buffer.popleft()
