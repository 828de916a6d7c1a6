"""Where the daemon's main process keeps its memory, by source file (``tracemalloc``).

    python -m bench daemon_memory [--quick] [--endpoints 5000] [--interval 60s] [--json PATH]

The daemon's parts as ``llm-monitor run`` builds them (``Daemon(measuring_process=True)``, a
SQLite store in a temporary directory), in this process, probing ``--endpoints`` endpoints of
the simulator (its own process) for one interval and 15 s more, so that every endpoint has
been probed and a window rolled up. ``tracemalloc`` starts after the imports, so the
configuration, the daemon's objects and what they hold are traced; the table lists the Python
memory still held at the end, grouped by the file that allocated it. Tracing costs memory and
time of its own: the RSS here is not the daemon's (``bench daemon_load`` measures that), only
the split is meant.
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import Column, parser, print_table, write_json
from bench.daemon_load import KEY, _config
from bench.simproc import free_port, simulator_process
from monitor.core.durations import parse_duration

#: Rows of the table: the largest files, the rest summed.
TOP = 12


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def _group(filename: str) -> str:
    for marker in ("/site-packages/", "/monitor/"):
        if marker in filename:
            rest = filename.split(marker, 1)[1]
            return ("monitor/" if marker == "/monitor/" else "") + rest
    return Path(filename).name


def measure(endpoints: int, interval: float) -> dict[str, Any]:
    """Run the daemon's parts and return the traced memory by file."""
    from monitor.config import load_config
    from monitor.service.daemon import Daemon
    from monitor.service.logs import configure_logging

    configure_logging("warning", "json")
    os.environ["BENCH_KEY"] = KEY
    sim = [{"id": "sim", "api_key": KEY, "ttft": {"median": "300ms", "spread": 0.2},
            "tokens_per_second": {"median": 100, "spread": 0.2}}]  # fmt: skip
    with simulator_process(sim) as base, tempfile.TemporaryDirectory() as tmp_name:
        path = _config(Path(tmp_name), base, endpoints, interval, free_port())
        rss_imports = _rss_mb()
        tracemalloc.start()
        config = load_config(str(path))
        config_mb = tracemalloc.get_traced_memory()[0] / 1e6
        daemon = Daemon(config, measuring_process=True)
        daemon.start()
        try:
            time.sleep(interval + 15)
            snapshot = tracemalloc.take_snapshot()
        finally:
            daemon.stop(1.0)
            tracemalloc.stop()
    by_file: dict[str, list[float]] = {}
    for stat in snapshot.statistics("filename"):
        group = _group(stat.traceback[0].filename)
        size, count = by_file.setdefault(group, [0.0, 0.0])
        by_file[group] = [size + stat.size / 1e6, count + stat.count]
    ranked = sorted(by_file.items(), key=lambda item: -item[1][0])
    rows = [{"file": f, "mb": round(s, 1), "blocks": int(c)} for f, (s, c) in ranked[:TOP]]
    rest = ranked[TOP:]
    rows.append({"file": "(the rest)", "mb": round(sum(s for _f, (s, _c) in rest), 1),
                 "blocks": int(sum(c for _f, (_s, c) in rest))})  # fmt: skip
    return {
        "endpoints": endpoints,
        "interval_s": interval,
        "rss_mb_after_imports": round(rss_imports, 1),
        "traced_mb_config": round(config_mb, 1),
        "traced_mb_total": round(sum(s for s, _c in by_file.values()), 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the table (and JSON with --json)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--endpoints", type=int, default=None, help="default 5000 (quick 300)")
    args_parser.add_argument("--interval", default=None, help="default 60s (quick 10s)")
    args = args_parser.parse_args(argv)
    endpoints = args.endpoints or (300 if args.quick else 5000)
    interval = parse_duration(args.interval or ("10s" if args.quick else "60s"))
    result = measure(endpoints, interval)
    write_json(args.json, "daemon_memory", args, result)
    title = (
        f"{endpoints} endpoints every {interval:g} s: RSS after imports "
        f"{result['rss_mb_after_imports']} MB; traced {result['traced_mb_total']} MB, of which "
        f"the configuration {result['traced_mb_config']} MB"
    )
    columns = [
        Column("file", "allocated in"),
        Column("mb", "MB", ".1f"),
        Column("blocks", "blocks"),
    ]
    print_table(title, columns, result["rows"])


if __name__ == "__main__":
    main()
