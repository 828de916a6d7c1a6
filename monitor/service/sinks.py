"""Where probe results go: one log line, the metrics, and batched writes to the store.

None of it happens on the measuring loop: ``submit`` only puts the result on a queue. Two
threads of the sink's own take it from there:

- ``llm-monitor-sink`` logs each result, counts it in the metrics and buffers it for the store,
  at once, whatever the store is doing;
- ``llm-monitor-store-writer`` writes the buffer in batches.

They are separate so that a store that hangs (a locked SQLite file waits out its busy timeout,
an unreachable PostgreSQL host its connect timeout) never delays a log line or a metric: the
monitor keeps reporting its probes while it cannot store them. When the store fails, results
wait in a bounded buffer and are written after it recovers, oldest first, and each failure is
counted. Only when the buffer is full are the oldest results dropped (and counted), so memory
stays bounded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from monitor.core.result import ProbeResult
from monitor.metrics import ProbeMetrics
from monitor.service.logs import log_probe


class ProbeWriter(Protocol):
    """The part of the store the sink uses."""

    def add_probes(self, results: list[ProbeResult]) -> int:
        """Insert probes (idempotent on probe_id)."""


_STOP = object()


class ResultSink:
    """Consumes probe results on threads of its own."""

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
        self._max_buffer = max_buffer
        # One lock for everything the two threads share; the conditions wait on it.
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # progress: something handled or written
        self._wake = threading.Condition(self._lock)  # the writer has something to do
        self._buffer: deque[ProbeResult] = deque()
        self._batch: list[ProbeResult] = []  # taken from the buffer, being written
        self._next_write = 0.0  # monotonic time of the next write that is not urgent
        self._urgent = False  # flush() waits: write now
        self._closing = False  # stop(): write what is left once, then end
        self._received = 0
        self._handled = 0
        self._thread: threading.Thread | None = None
        self._writer_thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0
        self.store_healthy = True
        self.last_error: str | None = None

    def start(self) -> None:
        """Start the sink's threads."""
        self._thread = threading.Thread(target=self._run, name="llm-monitor-sink", daemon=True)
        self._thread.start()
        if self._writer is not None:
            self._writer_thread = threading.Thread(
                target=self._write_loop, name="llm-monitor-store-writer", daemon=True
            )
            self._writer_thread.start()

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
            while self._handled < target or (self._unwritten() and self.store_healthy):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._urgent = True
                self._wake.notify_all()
                self._idle.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Log and count what is queued, write what is pending (within ``timeout``), stop."""
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None
        if self._writer_thread is not None:
            with self._lock:
                self._closing = True
                self._wake.notify_all()
            self._writer_thread.join(max(deadline - time.monotonic(), 0.0))
            self._writer_thread = None

    @property
    def pending(self) -> int:
        """Results waiting to be written."""
        with self._lock:
            return self._unwritten()

    def _unwritten(self) -> int:
        return len(self._buffer) + len(self._batch)

    # --- llm-monitor-sink: log, count, buffer ------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            stopping = item is _STOP
            if isinstance(item, ProbeResult):
                self._accept(item)
            # Take what else is queued without waiting, so a burst is one wake-up for the writer.
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                elif isinstance(more, ProbeResult):
                    self._accept(more)
            with self._lock:
                if len(self._buffer) >= self._batch_size:
                    self._wake.notify_all()
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
            with self._lock:
                if self._writer is not None:
                    if not self._buffer and not self._batch:
                        # The first result after a quiet spell waits one flush interval, so
                        # the results of the next moments are written with it.
                        self._next_write = max(
                            self._next_write, time.monotonic() + self._flush_interval
                        )
                    self._buffer.append(result)
                    while self._unwritten() > self._max_buffer and self._buffer:
                        self._buffer.popleft()
                        self.dropped += 1
                    # The writer needs waking only when its next write moves: a first result
                    # (it waits without a deadline on an empty buffer) or a full batch; else
                    # its wait ends at the flush interval (a wake-up per result cost the
                    # process's other threads, a scrape among them, the interpreter lock).
                    if len(self._buffer) == 1 or len(self._buffer) >= self._batch_size:
                        self._wake.notify_all()
                self._handled += 1

    # --- llm-monitor-store-writer: batched writes, retried after failures ---------------------

    def _write_loop(self) -> None:
        assert self._writer is not None
        final_round = False
        while True:
            with self._lock:
                while True:
                    if self._closing and not final_round:
                        final_round = True  # one last pass over everything, failures or not
                    if not self._buffer:
                        self._urgent = False
                        if self._closing:
                            return
                    elif final_round or self._urgent or self._due():
                        break
                    now = time.monotonic()
                    self._wake.wait(max(self._next_write - now, 0.0) if self._buffer else None)
                count = min(self._batch_size, len(self._buffer))
                self._batch = [self._buffer.popleft() for _ in range(count)]
                batch = self._batch
            try:
                self._writer.add_probes(batch)
            except Exception as exc:  # any store failure: keep the batch and retry later
                self._failed(batch, exc)
                if final_round:
                    return  # the store is down at shutdown: what is left stays unwritten
                continue
            self._succeeded(batch)

    def _due(self) -> bool:
        # Caller holds the lock and the buffer is not empty.
        if self.store_healthy and len(self._buffer) >= self._batch_size:
            return True
        return time.monotonic() >= self._next_write

    def _failed(self, batch: list[ProbeResult], exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._batch = []
            self._buffer.extendleft(reversed(batch))
            while len(self._buffer) > self._max_buffer:
                self._buffer.popleft()
                self.dropped += 1
            self.store_healthy = False
            self.last_error = error
            self._urgent = False
            self._next_write = time.monotonic() + self._retry_interval
            pending = len(self._buffer)
            self._idle.notify_all()
        if self._metrics is not None:
            self._metrics.storage_errors.inc()
        self._logger.error("store write failed", error=error, pending=pending)

    def _succeeded(self, batch: list[ProbeResult]) -> None:
        with self._lock:
            self._batch = []
            self.written += len(batch)
            recovered = not self.store_healthy
            self.store_healthy = True
            self.last_error = None
            pending = len(self._buffer)
            if not pending:
                self._next_write = time.monotonic() + self._flush_interval
        if recovered:
            self._logger.info("store writes recovered", pending=pending)
        try:
            self._on_written(batch)
        finally:
            with self._lock:
                self._idle.notify_all()
