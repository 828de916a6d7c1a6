"""``python -m bench pages --quick`` still runs: it fills a store, serves the daemon's app on a
socket and gets every page it times with a 200 (the timings themselves are not checked)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import BENCHMARKS
from bench.pages import main


def test_quick_run_gets_every_page(tmp_path: Path) -> None:
    out = tmp_path / "pages.json"
    main(["--quick", "--runs", "2", "--json", str(out)])
    document = json.loads(out.read_text(encoding="utf-8"))
    rows = document["results"]["rows"]
    paths = [row["path"] for row in rows]
    window = next(p for p in paths if p.startswith("/reports/") and "." not in p)
    for expected in (
        "/",
        "/models/model-00?range=1h",
        "/models/model-00",
        "/models/model-00?range=7d",
        "/models/model-00?range=30d",
        "/models/model-00/card",
        "/models/big-pool",
        "/endpoints/ep-0040",
        "/endpoints/ep-0040?range=30d",
        "/reports",
        f"{window}.md",
        f"{window}.csv",
        f"{window}.json",
        "/badges/models/model-00/uptime.svg",
    ):
        assert expected in paths
    for row in rows:
        assert row["bytes"] > 0, row
        for socket in ("daemon", "nodelay"):
            assert row[f"{socket}_cold_ms"] > 0, row
            assert row[f"{socket}_p95_ms"] >= row[f"{socket}_p50_ms"] > 0, row
    assert document["arguments"]["endpoints"] == 100
    assert "pages" in BENCHMARKS
