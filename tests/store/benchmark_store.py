"""Store throughput on a real database: not a test, run by hand.

    python -m tests.store.benchmark_store                       # SQLite in a temporary file
    python -m tests.store.benchmark_store postgresql+psycopg://postgres@127.0.0.1/bench

Give PostgreSQL an empty database (its tables are created, then dropped). Measures: inserts in
batches of 100 (rows/s), then, with 1,000 endpoints x 120 probes in each of three 30-minute
windows, the time to fetch one window's ProbeRows, the last probe of each endpoint, the windows
holding probes and the retention of one window.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine

from monitor.store import open_store
from monitor.store.schema import metadata

from .factories import WINDOW, make_probe

ENDPOINTS = 1000
PROBES_PER_WINDOW = 120
HALF_HOUR = timedelta(minutes=30)


def _timed(label: str, action: Callable[[], object], runs: int = 5) -> None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    print(f"{label}: median {statistics.median(times) * 1000:.0f} ms over {runs} runs")


def run(url: str) -> None:
    """Fill the database at ``url`` and print the timings."""
    store = open_store(url)
    try:
        store.upgrade()
        batches = [
            [make_probe(started_at=WINDOW - timedelta(days=1, seconds=i)) for i in range(100)]
            for _ in range(200)
        ]
        start = time.perf_counter()
        for batch in batches:
            store.add_probes(batch)
        elapsed = time.perf_counter() - start
        print(f"add_probes, batches of 100: {200 * 100 / elapsed:,.0f} rows/s")

        step = HALF_HOUR / PROBES_PER_WINDOW
        for window in range(3):
            for n in range(PROBES_PER_WINDOW):
                moment = WINDOW + window * HALF_HOUR + n * step
                store.add_probes(
                    [
                        make_probe(endpoint=f"endpoint-{e:04d}", started_at=moment)
                        for e in range(ENDPOINTS)
                    ]
                )
        print(f"filled 3 windows of {ENDPOINTS} endpoints x {PROBES_PER_WINDOW} probes")

        def one_window() -> None:
            rows = store.probe_rows(WINDOW + HALF_HOUR, WINDOW + 2 * HALF_HOUR)
            assert sum(map(len, rows.values())) == ENDPOINTS * PROBES_PER_WINDOW

        _timed("probe_rows, one window", one_window)
        _timed("last_probes", lambda: store.last_probes())
        _timed(
            "probe_windows, 2 days",
            lambda: store.probe_windows(
                WINDOW - timedelta(days=2), WINDOW + timedelta(days=1), 1800
            ),
        )
        start = time.perf_counter()
        deleted = store.delete_probes_before(WINDOW + HALF_HOUR)
        print(f"delete_probes_before: {deleted:,} rows in {time.perf_counter() - start:.2f} s")
    finally:
        store.close()
        if url.startswith("postgresql"):
            engine = create_engine(url)
            metadata.drop_all(engine)
            with engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        run(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as directory:
            run(f"sqlite:///{Path(directory) / 'bench.db'}")
