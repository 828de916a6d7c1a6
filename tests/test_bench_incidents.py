"""``python -m bench incidents --quick`` still runs and measures what it says: the tenth of the
endpoints that went down for 5 minutes got one incident each (the timings are not checked)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import BENCHMARKS
from bench.incidents import main


def test_quick_run_finds_the_outages(tmp_path: Path) -> None:
    out = tmp_path / "incidents.json"
    main(["--quick", "--backends", "sqlite", "--json", str(out)])
    row = json.loads(out.read_text(encoding="utf-8"))["results"]["sqlite"]
    assert (row["endpoints"], row["incidents"]) == (100, 10)
    assert row["rebuild_ms"] > 0 and row["run_ms_p50"] > 0
    assert BENCHMARKS["incidents"][0] == "bench.incidents"
