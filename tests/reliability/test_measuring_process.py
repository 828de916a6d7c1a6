"""``llm-monitor run`` is two processes: the main one (API, pages, /metrics, the store, rollups)
and the measuring one, which only probes (monitor.service.measuring). Each part's death is seen
and handled, and SIGTERM to the daemon stops both with nothing lost:

- the measuring process killed (``kill -9``): the main process logs it, reports not ready, and
  starts a new one; the probes go on;
- the main process killed: the measuring process sees its pipe end and stops at once, saying why
  (nobody is left to take its results);
- SIGTERM to the daemon: both exit, and every request the simulator answered is stored.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from monitor.simulator import Simulator
from monitor.store import open_store

from .harness import (
    DaemonProcess,
    eventually,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)

ENDPOINTS = ("a", "b")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not alive either.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _measuring_pids(daemon: DaemonProcess) -> list[int]:
    return [int(e["pid"]) for e in daemon.events() if e.get("event") == "measuring process started"]


async def _probes_total(daemon: DaemonProcess) -> float:
    return (await daemon.scrape()).total("llm_monitor_probes_total")


def _config(tmp_path: Path, sim: Simulator, port: int) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    path = monitor_config(
        tmp_path / "monitor.yaml",
        [monitored(sim, name) for name in ENDPOINTS],
        storage_url=url,
        port=port,
    )
    return path, url


async def test_a_killed_measuring_process_is_replaced_and_probing_goes_on(
    tmp_path: Path,
) -> None:
    async with Simulator(sim_config(*(sim_endpoint(n) for n in ENDPOINTS))) as sim:
        port = free_port()
        config, _url = _config(tmp_path, sim, port)
        async with DaemonProcess(config, tmp_path / "daemon.log", port=port) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            first = _measuring_pids(daemon)
            assert len(first) == 1 and first[0] != daemon.pid
            assert await eventually(lambda: _more_than(daemon, 2), 15)

            os.kill(first[0], signal.SIGKILL)

            async def replaced() -> bool:
                return len(_measuring_pids(daemon)) == 2

            assert await eventually(replaced, 30), daemon.log_text()
            exits = [
                e
                for e in daemon.events()
                if e.get("event", "").startswith("measuring process exited")
            ]
            assert exits and exits[0]["pid"] == first[0] and exits[0]["level"] == "error"
            assert exits[0]["code"] == -signal.SIGKILL
            await daemon.wait_ready()
            before = await _probes_total(daemon)
            assert await eventually(lambda: _more_than(daemon, before + 2), 15)
            second = _measuring_pids(daemon)[1]
            code, _took = await daemon.stop()
    assert code == 0, daemon.log_text()
    assert not _alive(second)


async def _more_than(daemon: DaemonProcess, count: float) -> bool:
    return await _probes_total(daemon) > count


async def test_the_measuring_process_stops_when_the_main_one_is_killed(tmp_path: Path) -> None:
    async with Simulator(sim_config(*(sim_endpoint(n) for n in ENDPOINTS))) as sim:
        port = free_port()
        config, _url = _config(tmp_path, sim, port)
        async with DaemonProcess(config, tmp_path / "daemon.log", port=port) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            (child,) = _measuring_pids(daemon)
            await daemon.kill()

            async def gone() -> bool:
                return not _alive(child)

            assert await eventually(gone, 10, interval=0.05)
            stopped: list[dict[str, Any]] = [
                e for e in daemon.events() if e.get("event", "").startswith("main process gone")
            ]
            assert stopped, daemon.log_text()


async def test_sigterm_stops_both_processes_and_loses_no_probe(tmp_path: Path) -> None:
    endpoints = (sim_endpoint("a"), sim_endpoint("b", ttft="800ms"))
    async with Simulator(sim_config(*endpoints)) as sim:
        port = free_port()
        config, url = _config(tmp_path, sim, port)
        async with DaemonProcess(config, tmp_path / "daemon.log", port=port) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            (child,) = _measuring_pids(daemon)
            assert await eventually(lambda: _more_than(daemon, 3), 15)

            async def b_in_flight() -> bool:
                return any(t.ending is None and t.status == 200 for t in sim.recent(5, "b"))

            assert await eventually(b_in_flight, 10, interval=0.02)
            code, _took = await daemon.stop()
            await asyncio.sleep(0)
            requests = {name: len(sim.recent(1000, name)) for name in ENDPOINTS}
    assert code == 0, daemon.log_text()
    assert not _alive(child)
    store = open_store(url)
    try:
        stored = {name: len(store.probes(endpoint=name)) for name in ENDPOINTS}
    finally:
        store.close()
    assert stored == requests
