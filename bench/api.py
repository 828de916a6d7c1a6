"""API and report paths: each JSON route of the daemon's HTTP app and each report format, timed
in-process on the store that ``bench storage --keep DIR`` built (100 endpoints, 30 days).

    python -m bench api --keep DIR [--backends sqlite,postgresql] [--days 30] [--runs 20]

Run ``python -m bench storage --keep DIR`` first (same ``--days``): this benchmark reads the
databases named in DIR's state files and changes nothing in them. Each route is requested
through the app (``httpx.ASGITransport``: routing, handler, serialisation, no socket) ``--runs``
times; the table gives the median and the bytes of the body. ``GET /api/v1/rollups`` asks for
the last 30 days of every endpoint, which the API cuts at a page of 10,000 rows; the report is
built once per run and rendered in every format.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from bench.common import Column, ms, parser, print_table, quantile, timed, write_json
from bench.harness import config_text, load

try:  # the layout since issue 12
    from monitor.api.app import create_app
    from monitor.reports.build import build_report
    from monitor.reports.formats import render_csv, render_json, render_markdown
    from monitor.reports.terminal import render_table
    from monitor.service.aggregator import snapshot
    from monitor.service.daemon import Daemon
except ImportError:  # the flat layout before it, so that one command measures both
    from monitor.aggregator import snapshot  # type: ignore[no-redef]
    from monitor.daemon import Daemon  # type: ignore[no-redef]
    from monitor.report import (  # type: ignore[no-redef]
        build_report,
        render_csv,
        render_json,
        render_markdown,
        render_table,
    )

    from monitor.api import create_app  # type: ignore[no-redef]
from monitor.store import open_store

ENDPOINTS = 100
ROUTES = (
    "/api/v1/endpoints",
    "/api/v1/models",
    "/api/v1/models/gpt-4.1-nano/profile",
    "/api/v1/rollups?since=30d",
    "/api/v1/reports/latest",
    "/openapi.json",
)


async def _routes(daemon: Any, runs: int) -> list[dict[str, Any]]:
    app = create_app(daemon)
    rows = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:
        for route in ROUTES:
            times = []
            size = 0
            for _ in range(runs):
                began = time.perf_counter()
                response = await client.get(route)
                times.append(time.perf_counter() - began)
                response.raise_for_status()
                size = len(response.content)
            rows.append({"what": f"GET {route}", "ms": ms(quantile(times, 0.5)), "bytes": size})
    return rows


def measure(backend: str, days: float, runs: int, keep: Path) -> list[dict[str, Any]]:
    """Time every route and report format on the kept database of ``backend``."""
    state_path = keep / f"state-{backend}-{days:g}d.json"
    if not state_path.exists():
        raise SystemExit(f"no {state_path}: run python -m bench storage --keep {keep} first")
    url = str(json.loads(state_path.read_text(encoding="utf-8"))["url"])
    endpoints = [f"e{i:03d}" for i in range(ENDPOINTS)]
    config = load(
        config_text(
            [(e, "http://127.0.0.1:1") for e in endpoints],
            interval=60,
            timeout=30,
            storage_url=url,
            port=9464,
        )
    )
    store = open_store(url)
    try:
        daemon = Daemon(config, store=store)
        daemon.aggregator.latest = snapshot(config, store, datetime.now(UTC))
        rows = asyncio.run(_routes(daemon, runs))
        report = build_report(config, store, now=datetime.now(UTC))
        rows.append(
            {
                "what": "report: build",
                "ms": ms(
                    quantile(
                        timed(lambda: build_report(config, store, now=datetime.now(UTC)), runs),
                        0.5,
                    )
                ),
            }
        )
        console = Console(file=io.StringIO(), width=120)
        renders: dict[str, Callable[[], object]] = {
            "report: table": lambda: render_table(report, console),
            "report: markdown": lambda: render_markdown(report),
            "report: json": lambda: render_json(report),
            "report: csv": lambda: render_csv(report),
        }
        for name, render in renders.items():
            rows.append({"what": name, "ms": ms(quantile(timed(render, runs), 0.5))})
    finally:
        store.close()
    return [{"backend": backend, **row} for row in rows]


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write the JSON)."""
    args = parser(__doc__ or "")
    args.add_argument("--keep", type=Path, required=True, help="the DIR of bench storage --keep")
    args.add_argument("--backends", default="sqlite,postgresql")
    args.add_argument("--days", type=float, default=30)
    args.add_argument("--runs", type=int, default=20)
    options = args.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for backend in options.backends.split(","):
        rows.extend(measure(backend, options.days, options.runs, options.keep))
    print_table(
        f"API and report paths, {ENDPOINTS} endpoints, {options.days:g} days (median of "
        f"{options.runs})",
        [Column("backend", "store"), Column("what", "path"), Column("ms", "ms", ".1f"),
         Column("bytes", "bytes", ",")],
        rows,
    )  # fmt: skip
    write_json(options.json, "api", options, rows)
