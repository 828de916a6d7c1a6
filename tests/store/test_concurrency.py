"""Several threads at once: the daemon's worker threads share one store."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

from monitor.core.result import ProbeResult
from monitor.store import SQLStore, open_store

from .factories import T0, WINDOW, make_probe, make_rollup

THREADS = 8
_T = TypeVar("_T")


def _run_together(tasks: list[Callable[[], _T]]) -> list[_T]:
    """Run the tasks on their own threads, released at the same instant."""
    barrier = threading.Barrier(len(tasks))

    def start(task: Callable[[], _T]) -> _T:
        barrier.wait()
        return task()

    with ThreadPoolExecutor(len(tasks)) as pool:
        return list(pool.map(start, tasks))


def test_concurrent_add_probes_from_many_threads_lose_nothing(store: SQLStore) -> None:
    shared = [make_probe(endpoint="shared") for _ in range(10)]
    batches_by_thread = [
        [
            [
                *(
                    make_probe(endpoint=f"e{thread}", started_at=T0 + i * timedelta(seconds=1))
                    for i in range(40)
                ),
                *shared,  # every batch repeats these ids: exactly one insert of each counts
            ]
            for _ in range(15)
        ]
        for thread in range(THREADS)
    ]
    unique = {probe.probe_id for batches in batches_by_thread for b in batches for probe in b}

    def writer(batches: list[list[ProbeResult]]) -> int:
        return sum(store.add_probes(batch) for batch in batches)

    inserted = _run_together([partial(writer, batches) for batches in batches_by_thread])

    assert sum(inserted) == len(unique) == THREADS * 15 * 40 + len(shared)
    assert {probe.probe_id for probe in store.probes()} == unique


def test_reads_upserts_and_retention_run_alongside_writers(store: SQLStore) -> None:
    old = [make_probe(started_at=T0 - timedelta(days=40, seconds=i)) for i in range(300)]
    store.add_probes(old)
    new = [[make_probe(endpoint=f"e{n}", started_at=T0) for _ in range(50)] for n in range(4)]

    def write(batch: list[ProbeResult]) -> object:
        return store.add_probes(batch)

    def read() -> object:
        for _ in range(10):
            store.last_probes()
            store.probe_rows(WINDOW, WINDOW + timedelta(minutes=30))
        return None

    def upsert() -> object:
        for probes in range(10):
            store.upsert_rollups([make_rollup(probes=probes)])
        return None

    def retire() -> object:
        return store.delete_probes_before(T0 - timedelta(days=30), batch_size=50)

    tasks: list[Callable[[], object]] = [partial(write, batch) for batch in new]
    results = _run_together([*tasks, read, read, upsert, upsert, retire])

    assert results[-1] == len(old)
    assert sorted(p.probe_id for p in store.probes()) == sorted(
        p.probe_id for batch in new for p in batch
    )
    assert [rollup.window_start for rollup in store.rollups(window_seconds=1800)] == [WINDOW]


def test_sqlite_writer_waits_for_a_lock_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.upgrade()
        with closing(sqlite3.connect(path, isolation_level=None, check_same_thread=False)) as other:
            other.execute("BEGIN IMMEDIATE")  # holds the write lock, like another process
            release = threading.Timer(0.3, other.execute, ["COMMIT"])
            release.start()
            started = time.monotonic()
            try:
                assert store.add_probes([make_probe()]) == 1
            finally:
                release.join()
        assert time.monotonic() - started >= 0.25
    finally:
        store.close()
