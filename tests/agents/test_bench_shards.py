"""``python -m bench shards --quick`` still runs and its figures are right: two sharded agents
divide 200 endpoints, every endpoint is probed exactly once per interval after they settle, and
the measure it reports counts gaps, misses and doubles as its docstring says."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from bench.__main__ import BENCHMARKS
from bench.shards import main, measure
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
