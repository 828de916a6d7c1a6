"""The process dies or is stopped at awkward moments.

- ``kill -9`` during the start-up backfill, in the middle of a window and right after a window
  boundary (before that window's rollup job ran): every restart recomputes what is missing, and
  in the end every window has exactly one rollup per endpoint whose counts are those of its raw
  probes; no probe is stored twice.
- SIGTERM while probes are in flight: each one finishes (or is recorded as ``cancelled``), is
  stored, and the daemon exits 0 within the probe timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import window_start
from monitor.simulator import Simulator
from monitor.store import open_store
from tests.store.factories import make_probe

from .harness import (
    DaemonProcess,
    eventually,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)

WINDOW = 5
ENDPOINTS = ("a", "b")
HISTORY_WINDOWS = 1500


def _seed_history(url: str, now: datetime) -> tuple[datetime, datetime]:
    """Raw probes of ``HISTORY_WINDOWS`` windows ending two minutes ago, none rolled up; the
    first and the last window."""
    first = window_start(now - timedelta(seconds=WINDOW * HISTORY_WINDOWS + 120), WINDOW)
    outcomes = [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.TIMEOUT]
    probes = [
        make_probe(
            endpoint=endpoint,
            provider="openai",
            region=None,
            outcome=outcomes[(w + k) % 3],
            started_at=first + timedelta(seconds=WINDOW * w + 1.5 * k + 0.25),
        )
        for w in range(HISTORY_WINDOWS)
        for endpoint in ENDPOINTS
        for k in range(2)
    ]
    store = open_store(url)
    try:
        store.upgrade()
        store.add_probes(probes)
    finally:
        store.close()
    return first, first + timedelta(seconds=WINDOW * (HISTORY_WINDOWS - 1))


def _rollup_rows(path: Path) -> int:
    with sqlite3.connect(path, timeout=5) as connection:
        (count,) = connection.execute("SELECT count(*) FROM rollups").fetchone()
    return int(count)


async def _at_phase(low: float, high: float) -> None:
    """Wait until the wall clock is between ``low`` and ``high`` seconds into a window."""
    phase = time.time() % WINDOW
    if not low <= phase < high:
        await asyncio.sleep((low - phase) % WINDOW + 0.01)


async def test_kill_9_at_any_point_loses_and_double_counts_nothing(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    url = f"sqlite:///{db}"
    history_first, history_last = _seed_history(url, datetime.now(UTC))
    port = free_port()
    async with Simulator(sim_config(*(sim_endpoint(e) for e in ENDPOINTS))) as sim:
        config = monitor_config(
            tmp_path / "monitor.yaml",
            [monitored(sim, e) for e in ENDPOINTS],
            storage_url=url,
            port=port,
            window=WINDOW,
        )
        log = tmp_path / "daemon.log"

        # 1. During the start-up backfill: some history windows are rolled up, not all.
        daemon = DaemonProcess(config, log, port=port)
        async with daemon:
            await daemon.start()

            async def backfilling() -> bool:
                rows = await asyncio.to_thread(_rollup_rows, db)
                return rows > HISTORY_WINDOWS // 5

            assert await eventually(backfilling, 30, interval=0.02)
            await daemon.kill()
        rolled = _rollup_rows(db)
        assert "rollups ready" not in daemon.log_text()
        assert rolled < len(ENDPOINTS) * HISTORY_WINDOWS, "killed after the backfill ended"

        # 2. In the middle of a window.
        daemon = DaemonProcess(config, log, port=port)
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(1.5)  # a few probes first
            await _at_phase(2.0, 3.0)
            await daemon.kill()

        # 3. Right after a window boundary, before that window's rollup job (settle: 3 s).
        daemon = DaemonProcess(config, log, port=port)
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(1.5)
            await _at_phase(0.1, 0.6)
            await daemon.kill()

        # 4. A last run, stopped cleanly after another window.
        daemon = DaemonProcess(config, log, port=port)
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(WINDOW + 2)
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()[-3000:]
        assert daemon.log_text().count('"event": "rollups ready"') == 3

    store = open_store(url)
    try:
        probes = store.probes(limit=10_000_000, newest_first=False)
        rollups = store.rollups(window_seconds=WINDOW)
    finally:
        store.close()
    ids = [p.probe_id for p in probes]
    assert len(ids) == len(set(ids)), "a probe was stored twice"

    raw: dict[tuple[str, datetime], list[ProbeResult]] = {}
    for probe in probes:
        raw.setdefault((probe.endpoint, window_start(probe.started_at, WINDOW)), []).append(probe)
    keys = [(r.endpoint, r.window_start) for r in rollups]
    assert len(keys) == len(set(keys)), "a window was rolled up twice"
    by_key = {(r.endpoint, r.window_start): r for r in rollups}
    # Every window that has probes has its rollup, with exactly their counts.
    for key, found in raw.items():
        rollup = by_key.get(key)
        assert rollup is not None, f"no rollup for {key}"
        assert rollup.probes == len(found), key
        assert rollup.outcomes == dict(sorted(Counter(p.outcome.value for p in found).items()))
    # And nothing else: a rollup exists exactly where raw probes are (an endpoint with no probe
    # in a window, as while the daemon restarts, has no rollup there rather than "0 probes").
    assert set(by_key) == set(raw), "a rollup without raw probes"
    history = [k for k in raw if k[1] <= history_last]
    assert len(history) == len(ENDPOINTS) * HISTORY_WINDOWS
    assert min(k[1] for k in history) == history_first


async def test_sigterm_mid_probe_stores_it_and_exits_within_the_probe_timeout(
    tmp_path: Path,
) -> None:
    timeout = 3.0
    endpoints = (
        sim_endpoint("slow", ttft="1500ms"),  # finishes during the grace time
        sim_endpoint("stuck", mode="hang_mid_stream"),  # ends at its own deadline
        sim_endpoint("quick"),
    )
    async with Simulator(sim_config(*endpoints)) as sim:
        port = free_port()
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        config = monitor_config(
            tmp_path / "monitor.yaml",
            [monitored(sim, e["id"]) for e in endpoints],
            storage_url=url,
            port=port,
            probe={"interval": "4s", "timeout": f"{timeout:g}s"},
        )
        async with DaemonProcess(config, tmp_path / "daemon.log", port=port) as daemon:
            await daemon.start()
            await daemon.wait_ready()

            async def both_in_flight() -> bool:
                return all(
                    any(t.ending is None and t.status == 200 for t in sim.recent(10, name))
                    for name in ("slow", "stuck")
                )

            # "slow" sends its headers at 0.75 s and its first token at 1.5 s.
            assert await eventually(both_in_flight, 15, interval=0.02)
            code, took = await daemon.stop()
            requests = {e["id"]: sim.recent(100, e["id"]) for e in endpoints}

    assert code == 0, daemon.log_text()
    assert took <= timeout + 1.5, f"the daemon took {took:.1f}s to exit"
    store = open_store(url)
    try:
        stored = {e["id"]: store.probes(endpoint=e["id"]) for e in endpoints}
    finally:
        store.close()
    # One stored probe per request the simulator saw: the in-flight ones included.
    for name, seen in requests.items():
        assert len(stored[name]) == len(seen), name
    assert stored["slow"][0].outcome is Outcome.SUCCESS
    assert stored["stuck"][0].outcome in (Outcome.TIMEOUT, Outcome.CANCELLED)
    assert '"event": "stopped"' in daemon.log_text()
    assert '"unwritten": 0' in daemon.log_text()
