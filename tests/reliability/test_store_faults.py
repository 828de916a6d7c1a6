"""The store fails under a running daemon: PostgreSQL restarted, a SQLite file locked by another
process, a full disk, and a database from a newer schema.

While the store cannot be written the daemon keeps probing (the simulator keeps seeing requests
and ``llm_monitor_probes_total`` keeps rising), holds the results in a bounded buffer, counts
each failed write in ``llm_monitor_storage_errors_total`` and fails ``/readyz``; once the store
is back it writes the buffer by itself, and after a clean stop every probe it logged and counted
is in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.core.result import ProbeResult
from monitor.simulator import Simulator
from monitor.store import open_store
from monitor.store.sql import SQLStore

from .harness import (
    ROOT,
    DaemonProcess,
    eventually,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
    unavailable,
)

WINDOW = 5


def _daemon(tmp_path: Path, sim: Simulator, storage_url: str) -> DaemonProcess:
    port = free_port()
    config = monitor_config(
        tmp_path / "monitor.yaml",
        [monitored(sim, "a"), monitored(sim, "b")],
        storage_url=storage_url,
        port=port,
        window=WINDOW,
    )
    return DaemonProcess(config, tmp_path / "daemon.log", port=port)


def _sim() -> Simulator:
    return Simulator(sim_config(sim_endpoint("a"), sim_endpoint("b")))


async def _probes_counted(daemon: DaemonProcess) -> float:
    return (await daemon.scrape()).total("llm_monitor_probes_total")


async def _wait_for_store_failure(daemon: DaemonProcess, reason: str) -> list[str]:
    """Wait until a write failed: counted, and /readyz says why; return the problems."""
    problems: list[str] = []

    async def failing() -> bool:
        nonlocal problems
        errors = (await daemon.scrape()).total("llm_monitor_storage_errors_total")
        status, problems = await daemon.ready_problems()
        return errors > 0 and status == 503 and any(reason in p for p in problems)

    assert await eventually(failing, 20), (problems, daemon.log_text()[-3000:])
    return problems


async def _keeps_probing_while_failing(daemon: DaemonProcess, sim: Simulator) -> None:
    """Probes go on, and are counted, while the store cannot take them."""
    counted, requests = await _probes_counted(daemon), len(sim.recent(10_000))
    await asyncio.sleep(2.5)
    assert await _probes_counted(daemon) >= counted + 3
    assert len(sim.recent(10_000)) >= requests + 3
    status, _ = await daemon.ready_problems()
    assert status == 503


async def _wait_for_recovery(daemon: DaemonProcess, timeout: float = 25) -> None:
    async def recovered() -> bool:
        status, _ = await daemon.ready_problems()
        return status == 200 and "store writes recovered" in daemon.log_text()

    assert await eventually(recovered, timeout), daemon.log_text()[-3000:]


def _assert_nothing_lost(daemon: DaemonProcess, storage_url: str, counted: float) -> None:
    """Every probe the daemon logged (and so counted) is stored, once; rollups agree."""
    logged = {event["probe_id"] for event in daemon.probe_events()}
    assert len(logged) >= counted > 0
    store = open_store(storage_url)
    try:
        stored: list[ProbeResult] = store.probes(limit=1_000_000)
        ids = [p.probe_id for p in stored]
        assert len(ids) == len(set(ids))
        assert set(ids) == logged, (len(logged - set(ids)), len(set(ids) - logged))
        rolled = store.rollups(window_seconds=WINDOW)
        assert sum(r.probes for r in rolled) == len(stored)
    finally:
        store.close()
    assert '"unwritten": 0' in daemon.log_text()


# --- PostgreSQL restarted mid-run -------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_restarted_mid_run_loses_nothing(
    tmp_path: Path, postgres_database: str, pg_cluster: list[str]
) -> None:
    async with _sim() as sim:
        daemon = _daemon(tmp_path, sim, postgres_database)
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(2)
            try:
                await asyncio.to_thread(subprocess.run, [*pg_cluster, "stop"], check=True)
                problems = await _wait_for_store_failure(daemon, "writes failing")
                assert any("postgresql+psycopg://" in p for p in problems), problems
                await _keeps_probing_while_failing(daemon, sim)
            finally:
                await asyncio.to_thread(subprocess.run, [*pg_cluster, "start"], check=True)
            await _wait_for_recovery(daemon)
            counted = await _probes_counted(daemon)
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()
        _assert_nothing_lost(daemon, postgres_database, counted)


# --- SQLite locked by another process ---------------------------------------------------------


async def test_sqlite_locked_by_another_writer_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    # ?timeout=1: a writer waits one second for the lock (the default is 10 s) before it fails.
    url = f"sqlite:///{path}?timeout=1"
    async with _sim() as sim:
        daemon = _daemon(tmp_path, sim, url)
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(1.5)
            holder = await asyncio.to_thread(_hold_write_lock, path)
            try:
                await _wait_for_store_failure(daemon, "database is locked")
                await _keeps_probing_while_failing(daemon, sim)
            finally:
                await asyncio.to_thread(holder.rollback)
                await asyncio.to_thread(holder.close)
            await _wait_for_recovery(daemon)
            counted = await _probes_counted(daemon)
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()
        _assert_nothing_lost(daemon, url, counted)


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's view: a connection that takes and keeps the database's write lock."""
    connection = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN EXCLUSIVE")
    connection.execute("DELETE FROM probes WHERE probe_id = 'none'")  # a write, inside the lock
    return connection


# --- disk full --------------------------------------------------------------------------------


@contextlib.contextmanager
def _tiny_filesystem(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only), unmounted on exit."""
    where.mkdir()
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs to fill up needs root", "LLM_MONITOR_REQUIRE_ROOT")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {mounted.stderr.strip()}", "LLM_MONITOR_REQUIRE_ROOT")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the filesystem has no space left."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 16, 1 << 10, 1):  # big blocks, then what is left, to the last byte
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    with pytest.raises(OSError, match="No space left"), (folder / "probe").open("wb") as more:
        more.write(b"\0" * 4096)
    return filler


async def test_a_full_disk_loses_nothing_once_space_is_back(tmp_path: Path) -> None:
    async with _sim() as sim:
        with _tiny_filesystem(tmp_path / "disk", "3m") as disk:
            url = f"sqlite:///{disk / 'monitor.db'}"
            daemon = _daemon(tmp_path, sim, url)
            async with daemon:
                await daemon.start()
                await daemon.wait_ready()
                await asyncio.sleep(1.5)
                filler = await asyncio.to_thread(_fill, disk)
                try:
                    await _wait_for_store_failure(daemon, "database or disk is full")
                    await _keeps_probing_while_failing(daemon, sim)
                finally:
                    filler.unlink()
                await _wait_for_recovery(daemon)
                counted = await _probes_counted(daemon)
                code, _ = await daemon.stop()
                assert code == 0, daemon.log_text()
            _assert_nothing_lost(daemon, url, counted)


# --- a database from a newer version ----------------------------------------------------------


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_database_with_a_newer_schema_is_refused_with_exit_code_2_and_left_alone(
    tmp_path: Path,
) -> None:
    from tests.store.factories import make_probe

    db = tmp_path / "monitor.db"
    url = f"sqlite:///{db}"
    store = open_store(url)
    assert isinstance(store, SQLStore)
    try:
        store.upgrade()
        store.add_probes([make_probe()])
        with store._engine.begin() as connection:  # what a newer llm-monitor would leave behind
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    finally:
        store.close()
    config = monitor_config(tmp_path / "monitor.yaml", [], storage_url=url, port=free_port())
    before = _fingerprint(db)
    files = sorted(p.name for p in tmp_path.iterdir())

    for command in (["run"], ["db", "upgrade"], ["report"]):
        done = subprocess.run(
            [sys.executable, "-m", "monitor", *command, "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "9999_future, newer than this llm-monitor" in done.stderr, done.stderr
        assert "upgrade llm-monitor" in done.stderr
        assert "Traceback" not in done.stderr

    assert _fingerprint(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files
