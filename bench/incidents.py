"""The incident job on 1,000 endpoints: judging from the store at start, then each run.

    python -m bench incidents [--quick] [--endpoints 1000] [--backends sqlite,postgresql]
                              [--runs 20] [--json PATH]

For each backend a fresh database gets an hour of raw probes of ``--endpoints`` endpoints at a
60 s interval, a tenth of them down for 5 minutes in the middle (so incidents open and
close). ``IncidentJob.run()`` (the daemon's incident job, on the rollup lease holder) is
timed: the first run, which rebuilds the state from the store (the start-up case, and a lease
taken over), then ``--runs`` runs 15 s apart by a moved clock (the daemon's check interval
with 60 s probes), each judging the slots completed since the last. The job runs on the
maintenance thread, never on the measuring loop.
"""

from __future__ import annotations

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
from monitor.service.aggregator import settle_seconds
from monitor.service.incidents import IncidentJob
from monitor.store import open_store

INTERVAL = 60
HISTORY_MINUTES = 60
OUTAGE_MINUTES = range(28, 33)
STEP_SECONDS = 15.0


def _probes(endpoints: list[str], start: datetime, minutes: range) -> list[ProbeResult]:
    out = []
    for index, endpoint in enumerate(endpoints):
        offset = (index * 7) % INTERVAL + 0.5
        down = index % 10 == 0
        for minute in minutes:
            failed = down and minute in OUTAGE_MINUTES
            probe = _probe(endpoint, start + timedelta(seconds=minute * INTERVAL + offset))
            out.append(
                replace(
                    probe,
                    location="here",
                    outcome=Outcome.SERVER_ERROR if failed else Outcome.SUCCESS,
                    error="HTTP 500: down" if failed else None,
                )
            )
    return out


def _time(url: str, tmp: Path, endpoints: list[str], runs: int) -> dict[str, Any]:
    config, _path = _config(tmp, url, endpoints)
    store = open_store(url)
    try:
        store.upgrade()
        start = datetime.fromtimestamp((datetime.now(UTC).timestamp() // 3600 - 3) * 3600, UTC)
        probes = _probes(endpoints, start, range(HISTORY_MINUTES + 2 + runs // 4 + 2))
        for at in range(0, len(probes), 5000):
            store.add_probes(probes[at : at + 5000])
        count = len(probes)
        del probes
        # Start-up 4 minutes after the outage ended: the first run finds its incidents
        # closing in the stored probes, the later ones judge the minutes that follow.
        now = start + timedelta(minutes=OUTAGE_MINUTES.stop + 3)
        settle = settle_seconds(config)

        def clock() -> datetime:
            return now

        job = IncidentJob(config, store, settle, clock)
        began = time.perf_counter()
        job.run()
        rebuild_ms = (time.perf_counter() - began) * 1000
        times = []
        for _ in range(runs):
            now += timedelta(seconds=STEP_SECONDS)
            began = time.perf_counter()
            job.run()
            times.append((time.perf_counter() - began) * 1000)
        incidents = store.incidents(since=start)
        return {
            "endpoints": len(endpoints),
            "probes": count,
            "incidents": len(incidents),
            "rebuild_ms": rebuild_ms,
            "run_ms_p50": statistics.median(times),
            "run_ms_max": max(times),
        }
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    """Run and print the table."""
    options = parser(__doc__)
    options.add_argument("--endpoints", type=int, default=1000)
    options.add_argument("--backends", default="sqlite,postgresql")
    options.add_argument("--runs", type=int, default=20)
    args = options.parse_args(argv)
    endpoints = [f"ep-{i:04d}" for i in range(100 if args.quick else args.endpoints)]
    runs = 8 if args.quick else args.runs
    results: dict[str, dict[str, Any]] = {}
    host = machine()
    print(f"machine: {host['cpu']} (family {host['cpu_family']}, model {host['cpu_model']})")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-incidents-") as directory:
            tmp = Path(directory)
            if backend == "sqlite":
                results[backend] = _time(f"sqlite:///{tmp / 'monitor.db'}", tmp, endpoints, runs)
                continue
            name = f"bench_incidents_{uuid.uuid4().hex[:10]}"
            with postgres_admin() as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(False)
                results[backend] = _time(url, tmp, endpoints, runs)
            finally:
                with postgres_admin() as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    columns = [
        Column("backend", "backend"),
        Column("endpoints", "endpoints", ","),
        Column("probes", "probes stored", ","),
        Column("incidents", "incidents"),
        Column("rebuild_ms", "first run (rebuild) ms", ".0f"),
        Column("run_ms_p50", "each run ms (median)", ".1f"),
        Column("run_ms_max", "each run ms (max)", ".1f"),
    ]
    print_table(
        f"The incident job, probes every {INTERVAL} s, runs {STEP_SECONDS:g} s apart",
        columns,
        [{"backend": name, **row} for name, row in results.items()],
    )
    write_json(args.json, "incidents", args, results)


if __name__ == "__main__":
    main()
