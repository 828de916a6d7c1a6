"""The result sink: log line, metrics, batched writes, and nothing lost when the store fails."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry

from monitor.core.errors import StoreError
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.metrics import ProbeMetrics
from monitor.service.logs import configure_logging
from monitor.service.sinks import ResultSink
from monitor.store import Store, open_store
from tests.store.factories import bare_probe, make_probe

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/sink.db")
    opened.upgrade()
    yield opened
    opened.close()


class _Outage:
    """The real store behind a switch that makes writes fail, as during a database outage."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.attempts = 0

    def add_probes(self, results: Sequence[ProbeResult]) -> int:
        self.attempts += 1
        if self.down:
            raise StoreError("database unreachable (simulated outage)")
        return self.store.add_probes(results)


def _probes(count: int) -> list[ProbeResult]:
    return [make_probe(started_at=T0 + timedelta(seconds=i)) for i in range(count)]


def test_every_result_is_written_counted_and_logged(store: Store) -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    sink = ResultSink(store, metrics, logger=structlog.get_logger("test"), flush_interval=0.05)
    sink.start()
    results = [*_probes(250), bare_probe(started_at=T0, outcome=Outcome.TIMEOUT)]
    for result in results:
        sink.submit(result)
    assert sink.flush(10)
    sink.stop()
    assert len(store.probes(limit=1000)) == 251
    labels = {"endpoint": "azure-eastus", "provider": "azure", "model": "gpt-4.1-nano",
              "location": "local", "outcome": "success"}  # fmt: skip
    assert registry.get_sample_value("llm_monitor_probes_total", labels) == 250
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    probe_lines = [line for line in lines if line.get("event") == "probe"]
    assert len(probe_lines) == 251
    assert probe_lines[0]["ttft_ms"] == pytest.approx(531.2, abs=0.1)
    assert {line["outcome"] for line in probe_lines} == {"success", "timeout"}


def test_results_wait_in_memory_while_the_store_is_down(store: Store) -> None:
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    outage = _Outage(store)
    outage.down = True
    sink = ResultSink(outage, metrics, flush_interval=0.05, retry_interval=0.05)
    sink.start()
    for result in _probes(40):
        sink.submit(result)
    assert sink.flush(5)
    assert (sink.store_healthy, sink.pending) == (False, 40)
    assert (registry.get_sample_value("llm_monitor_storage_errors_total") or 0) >= 1
    outage.down = False
    assert sink.flush(5)
    sink.stop()
    assert (sink.store_healthy, sink.pending) == (True, 0)
    assert len(store.probes(limit=100)) == 40


def test_the_buffer_is_bounded_and_drops_the_oldest(store: Store) -> None:
    outage = _Outage(store)
    outage.down = True
    sink = ResultSink(outage, None, max_buffer=10, flush_interval=0.05, retry_interval=10)
    sink.start()
    results = _probes(25)
    for result in results:
        sink.submit(result)
    assert sink.flush(5)
    assert sink.pending == 10 and sink.dropped == 15
    outage.down = False
    sink.stop()  # a final write on the way out
    kept = {p.probe_id for p in store.probes(limit=100)}
    assert kept == {r.probe_id for r in results[-10:]}


def test_written_batches_are_reported(store: Store) -> None:
    seen: list[ProbeResult] = []
    sink = ResultSink(store, None, on_written=seen.extend, flush_interval=0.05)
    sink.start()
    results = _probes(5)
    for result in results:
        sink.submit(result)
    assert sink.flush(5)
    sink.stop()
    assert [r.probe_id for r in seen] == [r.probe_id for r in results]


class _Hanging:
    """The real store behind writes that block until released (a lock held elsewhere, a host
    that does not answer)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.release = threading.Event()
        self.entered = threading.Event()

    def add_probes(self, results: Sequence[ProbeResult]) -> int:
        self.entered.set()
        self.release.wait(10)
        return self.store.add_probes(results)


def test_a_hanging_store_does_not_delay_log_lines_or_metrics(store: Store) -> None:
    registry = CollectorRegistry()
    hanging = _Hanging(store)
    seen: list[ProbeResult] = []
    sink = ResultSink(hanging, ProbeMetrics(registry), flush_interval=0.05, on_result=seen.append)
    sink.start()
    results = _probes(10)
    for result in results[:5]:
        sink.submit(result)
    assert hanging.entered.wait(5)  # the writer is stuck inside a write
    for result in results[5:]:
        sink.submit(result)
    deadline = time.monotonic() + 2
    while len(seen) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    # Every result is logged and counted at once, while the store has not answered yet.
    assert len(seen) == 10
    assert registry.get_sample_value("llm_monitor_probes_total", _SUCCESS) == 10
    assert sink.pending == 10
    hanging.release.set()
    assert sink.flush(5)
    sink.stop()
    assert sink.pending == 0 and sink.written == 10
    assert len(store.probes(limit=100)) == 10


def test_stop_gives_up_on_a_store_that_is_still_down(store: Store) -> None:
    outage = _Outage(store)
    outage.down = True
    sink = ResultSink(outage, None, flush_interval=0.05, retry_interval=10)
    sink.start()
    for result in _probes(3):
        sink.submit(result)
    assert sink.flush(5)
    attempts = outage.attempts
    began = time.monotonic()
    sink.stop()
    assert time.monotonic() - began < 1.0
    assert outage.attempts == attempts + 1  # one last try on the way out, not a retry loop
    assert sink.pending == 3


_SUCCESS = {"endpoint": "azure-eastus", "provider": "azure", "model": "gpt-4.1-nano",
            "location": "local", "outcome": "success"}  # fmt: skip
