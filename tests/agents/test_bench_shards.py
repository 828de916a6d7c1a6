"""``python -m bench shards --quick`` still runs and its figures are right: two sharded agents
divide 200 endpoints, every endpoint is probed exactly once per interval after they settle, and
the measure it reports counts gaps, misses and doubles as its docstring says."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from bench.__main__ import BENCHMARKS
from bench.shards import main, measure, planned_in_span
from bench.storage import postgres_admin
from tests.reliability.harness import unavailable


def test_quick_run_of_two_agents_keeps_every_endpoint_on_schedule(tmp_path: Path) -> None:
    try:
        postgres_admin().close()
    except psycopg.Error as exc:
        unavailable(f"no PostgreSQL server: {exc}", "LLM_MONITOR_REQUIRE_POSTGRES")
    out = tmp_path / "shards.json"
    main(["--quick", "--agents", "2", "--json", str(out)])
    (row,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert (row["endpoints"], row["agents"]) == (200, 2)
    assert row["probes"] == row["expected"] == 200 * 3
    assert (row["missing"], row["doubled"], row["on_schedule"]) == (0, 0, 1.0)
    shares = row["shares"]
    assert sorted(shares) == ["shard-1", "shard-2"] and sum(shares.values()) == 200
    assert min(shares.values()) > 50  # both carry a share, not one all of it
    assert BENCHMARKS["shards"][0] == "bench.shards"


def test_the_measure_counts_gaps_misses_and_doubles() -> None:
    # Interval 10 s, 3 intervals. a: on schedule; b: one run missed; c: one run probed by two
    # agents; d: on time but 1.5 s late once (outside the 1 s tolerance).
    probes = [
        *(("a", "x", t) for t in (0.0, 10.0, 20.0)),
        *(("b", "x", t) for t in (0.0, 20.0)),
        *(("c", "x", t) for t in (0.0, 10.0, 20.0)),
        ("c", "y", 10.2),
        *(("d", "y", t) for t in (0.0, 11.5, 20.0)),
    ]
    figures = measure(probes, ["a", "b", "c", "d"], 10.0, 3)
    assert figures["on_schedule"] == 0.25
    assert (figures["missing"], figures["doubled"]) == (1, 1)
    assert figures["shares"] == {"x": 3, "y": 2}
    assert (figures["probes"], figures["expected"]) == (12, 12)


def test_a_run_counts_in_the_interval_it_was_planned_in() -> None:
    # Span [100, 130), interval 10, read to 131. b: runs planned at 100, 110, 120 and 130: the
    # one planned at the span's end does not count, though it was read. c: runs planned at
    # 109.998, 119.998 and 129.998, the last started 6 ms late, after the span's end: it counts.
    probes = [
        ("b", "x", 100.003), ("b", "x", 110.0), ("b", "x", 120.004), ("b", "x", 130.2),
        ("c", "y", 109.999), ("c", "y", 119.998), ("c", "y", 130.004),
    ]  # fmt: skip
    by_endpoint: dict[str, list[float]] = {}
    for endpoint, _agent, started in planned_in_span(probes, 100.0, 10.0, 3):
        by_endpoint.setdefault(endpoint, []).append(started)
    assert by_endpoint == {"b": [100.003, 110.0, 120.004], "c": [109.999, 119.998, 130.004]}
