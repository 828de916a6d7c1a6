"""Rollup of one window across locations: 1,000 endpoints probed from 1 and from 3 locations.

    python -m bench locations [--quick] [--endpoints 1000] [--backends sqlite,postgresql]
                              [--runs 5] [--json PATH]

For each backend a fresh database gets one 30-minute window of raw probes of ``--endpoints``
endpoints at a 60 s interval, first from one location (30 probes per endpoint), then, in another
window, from three (90 per endpoint, each location on its own schedule, a tenth of one
location's probes failing so that the quorum has votes to count). ``roll_window`` (the daemon's
window job: read the window's probes, compute each endpoint's rollup across locations with its
quorum slots and one rollup per location, upsert them) is timed cold (first call) and warm
(median of ``--runs`` more), then ``snapshot`` (the profiles the window job publishes from that
window's rollups; median of ``--runs``). The one-location window is the baseline measured in
the same run: the cost of the locations is the difference. Goal: under 1 s for 1,000 endpoints
× 3 locations.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from bench.common import Column, machine, parser, print_table, write_json
from bench.storage import POSTGRES_ADMIN, _config, _probe, postgres_admin
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.service.aggregator import roll_window, snapshot
from monitor.store import open_store

WINDOW = 1800
INTERVAL = 60
LOCATIONS = ("virginia", "frankfurt", "singapore")


def _probes(endpoints: list[str], start: datetime, locations: tuple[str, ...]) -> list[ProbeResult]:
    out = []
    for e_index, endpoint in enumerate(endpoints):
        for l_index, location in enumerate(locations):
            offset = (e_index * 7 + l_index * 13) % INTERVAL + 0.5
            for k in range(WINDOW // INTERVAL):
                failed = location == LOCATIONS[-1] and k % 10 == 0 and len(locations) > 1
                probe = _probe(endpoint, start + timedelta(seconds=k * INTERVAL + offset))
                out.append(
                    replace(
                        probe,
                        agent=f"agent-{location}",
                        location=location,
                        outcome=Outcome.SERVER_ERROR if failed else Outcome.SUCCESS,
                    )
                )
    return out


def _time(url: str, tmp: Path, endpoints: list[str], runs: int) -> list[dict[str, Any]]:
    config, _path = _config(tmp, url, endpoints)
    store = open_store(url)
    rows = []
    try:
        store.upgrade()
        now = datetime.now(UTC)
        base = datetime.fromtimestamp((now.timestamp() // WINDOW - 4) * WINDOW, UTC)
        for index, locations in enumerate(((LOCATIONS[0],), LOCATIONS)):
            start = base + timedelta(seconds=index * WINDOW)
            probes = _probes(endpoints, start, locations)
            for at in range(0, len(probes), 5000):
                store.add_probes(probes[at : at + 5000])
            count = len(probes)
            # The daemon holds no window of probe objects while it rolls up: neither does
            # this process (their heap would slow the collector's full scans during the run).
            del probes
            gc.collect()
            times = []
            for _ in range(runs + 1):
                began = time.perf_counter()
                rolled = roll_window(config, store, start, now)
                times.append((time.perf_counter() - began) * 1000)
            # The window job then publishes the profiles made from this window's rollups.
            snapshots = []
            for _ in range(runs):
                began = time.perf_counter()
                snapshot(config, store, now, last_window=start)
                snapshots.append((time.perf_counter() - began) * 1000)
            located = store.location_rollups(
                window_seconds=WINDOW, since=start, until=start + timedelta(seconds=WINDOW)
            )
            rows.append(
                {
                    "locations": len(locations),
                    "endpoints": len(endpoints),
                    "probes": count,
                    "rollups": len(rolled),
                    "location_rollups": len(located),
                    "cold_ms": times[0],
                    "warm_ms": statistics.median(times[1:]),
                    "snapshot_ms": statistics.median(snapshots),
                    "slots_down": sum(r.slots_down or 0 for r in rolled),
                }
            )
    finally:
        store.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run and print the table."""
    options = parser(__doc__)
    options.add_argument("--endpoints", type=int, default=1000)
    options.add_argument("--backends", default="sqlite,postgresql")
    options.add_argument("--runs", type=int, default=5)
    args = options.parse_args(argv)
    endpoints = [f"ep-{i:04d}" for i in range(100 if args.quick else args.endpoints)]
    runs = 2 if args.quick else args.runs
    results: dict[str, list[dict[str, Any]]] = {}
    host = machine()
    print(f"machine: {host['cpu']} (family {host['cpu_family']}, model {host['cpu_model']})")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-locations-") as directory:
            tmp = Path(directory)
            if backend == "sqlite":
                results[backend] = _time(f"sqlite:///{tmp / 'monitor.db'}", tmp, endpoints, runs)
                continue
            name = f"bench_locations_{uuid.uuid4().hex[:10]}"
            with postgres_admin() as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(False)
                results[backend] = _time(url, tmp, endpoints, runs)
            finally:
                with postgres_admin() as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    columns = [
        Column("locations", "locations"),
        Column("endpoints", "endpoints", ","),
        Column("probes", "probes in the window", ","),
        Column("rollups", "rollups", ","),
        Column("location_rollups", "location rollups", ","),
        Column("slots_down", "quorum slots down"),
        Column("cold_ms", "roll_window cold ms", ".0f"),
        Column("warm_ms", "warm ms (median)", ".0f"),
        Column("snapshot_ms", "snapshot ms (median)", ".0f"),
    ]
    for backend, rows in results.items():
        print_table(f"{backend}: one window's rollup", columns, rows)
    write_json(args.json, "locations", args, results)


if __name__ == "__main__":
    main()
