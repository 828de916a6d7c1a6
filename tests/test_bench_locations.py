"""``python -m bench locations --quick`` still runs: both windows are rolled up, with one rollup
per endpoint across locations and one per location (the timings themselves are not checked)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import BENCHMARKS
from bench.locations import main


def test_quick_run_rolls_up_both_windows(tmp_path: Path) -> None:
    out = tmp_path / "locations.json"
    main(["--quick", "--backends", "sqlite", "--json", str(out)])
    rows = json.loads(out.read_text(encoding="utf-8"))["results"]["sqlite"]
    assert [(r["locations"], r["rollups"], r["location_rollups"]) for r in rows] == [
        (1, 100, 100),
        (3, 100, 300),
    ]
    assert all(r["warm_ms"] > 0 and r["snapshot_ms"] > 0 for r in rows)
    assert BENCHMARKS["locations"][0] == "bench.locations"
