"""Store operations on a real database (formerly ``tests/store/benchmark_store.py``).

    python -m bench store_ops [--quick] [--backends sqlite,postgresql] [--json PATH]

Measures, through the store's own methods: inserts in batches of 100 (rows/s), then, with
1,000 endpoints × 120 probes in each of three 30-minute windows, the time to fetch one window's
``ProbeRow``s, the last probe of each endpoint, the windows holding probes and the retention
of one window. SQLite lives in a temporary directory; PostgreSQL gets a database of its own
(``$BENCH_POSTGRES_URL`` names the server), dropped afterwards.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from bench.common import Column, ms, parser, print_table, quantile, timed, write_json
from bench.storage import POSTGRES_ADMIN, _probe
from monitor.store import open_store

WINDOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)


def run(url: str, endpoints: int, per_window: int, runs: int) -> dict[str, Any]:
    """Fill the database at ``url`` and time the operations."""
    store = open_store(url)
    try:
        store.upgrade()
        batches = [
            [_probe("azure-eastus", WINDOW - timedelta(days=1, seconds=i)) for i in range(100)]
            for _ in range(200)
        ]
        start = time.perf_counter()
        for batch in batches:
            store.add_probes(batch)
        insert_rate = 200 * 100 / (time.perf_counter() - start)
        step = HALF_HOUR / per_window
        for window in range(3):
            for n in range(per_window):
                moment = WINDOW + window * HALF_HOUR + n * step
                store.add_probes([_probe(f"endpoint-{e:04d}", moment) for e in range(endpoints)])

        def one_window() -> None:
            rows = store.probe_rows(WINDOW + HALF_HOUR, WINDOW + 2 * HALF_HOUR)
            assert sum(map(len, rows.values())) == endpoints * per_window

        rows_ms = ms(quantile(timed(one_window, runs), 0.5))
        last_ms = ms(quantile(timed(store.last_probes, runs), 0.5))
        windows_ms = ms(
            quantile(
                timed(
                    lambda: store.probe_windows(
                        WINDOW - timedelta(days=2), WINDOW + timedelta(days=1), 1800
                    ),
                    runs,
                ),
                0.5,
            )
        )
        start = time.perf_counter()
        deleted = store.delete_probes_before(WINDOW + HALF_HOUR)
        delete_s = time.perf_counter() - start
    finally:
        store.close()
    return {
        "insert_rows_per_s_batch_100": insert_rate,
        "probe_rows_one_window_ms": rows_ms,
        "last_probes_ms": last_ms,
        "probe_windows_2_days_ms": windows_ms,
        "deleted_rows": deleted,
        "delete_s": delete_s,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write the JSON)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--backends", default="sqlite,postgresql")
    args = args_parser.parse_args(argv)
    endpoints, per_window, runs = (1000, 30, 3) if args.quick else (1000, 120, 5)
    rows = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="llm-monitor-bench-") as tmp:
                row = run(f"sqlite:///{Path(tmp) / 'ops.db'}", endpoints, per_window, runs)
        else:
            name = f"llm_monitor_bench_{uuid.uuid4().hex[:8]}"
            admin_url = make_url(POSTGRES_ADMIN)
            libpq = admin_url.set(drivername="postgresql").render_as_string(False)
            with psycopg.connect(libpq, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                try:
                    url = admin_url.set(database=name).render_as_string(False)
                    row = run(url, endpoints, per_window, runs)
                finally:
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
        rows.append({"backend": backend, **row})
    print_table(
        f"Store operations, {endpoints} endpoints × {per_window} probes per window "
        f"(median of {runs})",
        [
            Column("backend", "backend"),
            Column("insert_rows_per_s_batch_100", "add_probes rows/s (batches of 100)", ",.0f"),
            Column("probe_rows_one_window_ms", "probe_rows 1 window ms", ".0f"),
            Column("last_probes_ms", "last_probes ms", ".1f"),
            Column("probe_windows_2_days_ms", "probe_windows 2 days ms", ".1f"),
            Column("deleted_rows", "retention: rows", ","),
            Column("delete_s", "retention s", ".2f"),
        ],
        rows,
    )
    write_json(args.json, "store_ops", args, rows)


if __name__ == "__main__":
    main()
