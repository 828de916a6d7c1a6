"""What the HTTP API and reports read from a running daemon (a read-only view of its state)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from monitor.config import Config
from monitor.core.result import ProbeResult
from monitor.core.spend import BudgetState
from monitor.metrics import Collector
from monitor.service.aggregator import Snapshot
from monitor.store import Store


class MonitorView(Protocol):
    """The daemon's state as the HTTP server sees it; every method is cheap and thread-safe."""

    @property
    def config(self) -> Config:
        """The configuration in force."""
        ...

    @property
    def store(self) -> Store:
        """The store (synchronous: call it from a worker thread, never on an event loop)."""
        ...

    @property
    def registry(self) -> Collector:
        """The metrics to expose: a ``MetricsRegistry`` (or any prometheus_client collector,
        which prometheus_client then writes)."""
        ...

    def snapshot(self) -> Snapshot | None:
        """The latest published rollups and profiles (None before the first rollup job)."""
        ...

    def last_probes(self) -> Mapping[str, ProbeResult]:
        """The newest probe of each configured endpoint, by endpoint id."""
        ...

    def problems(self) -> list[str]:
        """Why the daemon is not ready (store unreachable, scheduler stopped); empty when ready."""
        ...

    def budget(self) -> BudgetState | None:
        """The last check of the probes' spend against ``probe.budget_usd_per_day`` (None
        without a budget, or before the first check)."""
        ...
