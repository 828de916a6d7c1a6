"""Prometheus metrics: the families the daemon exposes on ``/metrics`` and their exposition.

- ``names``: every family's name, help text, type, labels and buckets (the one place for them);
- ``families``: counter, gauge and histogram families, their series and their text;
- ``probe``: ``ProbeMetrics``, the per-probe and self-health families the sink updates;
- ``live``: ``LiveCollector``, the window and model families of the last published window;
- ``registry``: ``MetricsRegistry`` and ``exposition``, the ``/metrics`` body;
- ``text``: numbers, escaping and label text, as both exposition formats write them.

prometheus_client is used through its public API only: content negotiation, its metric family
types (each collector here also yields them from ``collect()``) and, for the formats this
package does not write itself, its writers.
"""

from __future__ import annotations

from prometheus_client.registry import Collector

from monitor.metrics.families import CounterFamily, GaugeFamily, HistogramFamily
from monitor.metrics.live import LiveCollector, LiveState
from monitor.metrics.names import (
    CONNECT_BUCKETS,
    ENDPOINT_LABELS,
    LATENCY_BUCKETS,
    SPEED_BUCKETS,
)
from monitor.metrics.probe import ProbeMetrics
from monitor.metrics.registry import MetricsRegistry, exposition, exposition_chunks

__all__ = [
    "CONNECT_BUCKETS",
    "ENDPOINT_LABELS",
    "LATENCY_BUCKETS",
    "SPEED_BUCKETS",
    "Collector",
    "CounterFamily",
    "GaugeFamily",
    "HistogramFamily",
    "LiveCollector",
    "LiveState",
    "MetricsRegistry",
    "ProbeMetrics",
    "exposition",
    "exposition_chunks",
]
