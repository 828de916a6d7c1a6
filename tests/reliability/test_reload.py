"""SIGHUP reloads the configuration without a restart: endpoints added or removed start or stop
being probed and their metric series appear or vanish; a configuration that is invalid (or
changes what needs a restart) is refused, the running one stays, the log line lists every
problem and ``llm_monitor_config_last_reload_success`` turns 0 until a reload succeeds."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from monitor.simulator import Simulator

from .harness import (
    DaemonProcess,
    Scrape,
    eventually,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)


def _requests_since(sim: Simulator, endpoint: str, since_ns: int) -> int:
    return sum(1 for t in sim.recent(10_000, endpoint) if t.received_ns > since_ns)


async def test_sighup_applies_a_new_config_and_refuses_a_bad_one(tmp_path: Path) -> None:
    async with Simulator(sim_config(*(sim_endpoint(e) for e in ("keep", "drop", "new")))) as sim:
        port = free_port()
        path = tmp_path / "monitor.yaml"
        url = f"sqlite:///{tmp_path / 'monitor.db'}"

        def write(*endpoints: str, **changes: Any) -> None:
            monitor_config(path, [monitored(sim, e) for e in endpoints], storage_url=url,
                           port=port, **changes)  # fmt: skip

        write("keep", "drop")
        async with DaemonProcess(path, tmp_path / "daemon.log", port=port) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(2)
            before = await daemon.scrape()
            assert before.has("llm_monitor_endpoint_info", endpoint="drop")
            assert not before.has("llm_monitor_endpoint_info", endpoint="new")

            # 1. A valid change: one endpoint out, one in.
            write("keep", "new")
            await daemon.signal(signal.SIGHUP)
            assert await eventually(lambda: _logged(daemon, "config reloaded", 1), 10)
            reloaded = time.perf_counter_ns()
            scrape = await daemon.scrape()
            assert scrape.total("llm_monitor_config_last_reload_success") == 1
            assert scrape.has("llm_monitor_endpoint_info", endpoint="new")
            for name in ("llm_monitor_endpoint_info", "llm_monitor_probes_total",
                         "llm_monitor_probes_skipped_total"):  # fmt: skip
                assert not scrape.has(name, endpoint="drop"), name
            await asyncio.sleep(3)
            assert _requests_since(sim, "new", reloaded) >= 2
            assert _requests_since(sim, "keep", reloaded) >= 2
            assert _requests_since(sim, "drop", reloaded) == 0
            assert (await daemon.scrape()).total("llm_monitor_probes_total", endpoint="new") >= 2

            # 2. An invalid file: refused, with every problem named; the running config stays.
            path.write_text(
                path.read_text().replace("interval: 1s", "interval: 0s") + "unknown_section: {}\n"
            )
            await daemon.signal(signal.SIGHUP)
            assert await eventually(lambda: _logged(daemon, "config reload failed", 1), 10)
            failed = _last(daemon, "config reload failed")
            assert failed["event"].endswith("the running configuration stays")
            assert failed["level"] == "error"
            problems = failed["problems"]
            assert any(p.startswith("probe.interval: must be at least 1s") for p in problems)
            assert any(p.startswith("unknown_section: unknown key") for p in problems)
            assert failed["source"] == str(path)
            refused = time.perf_counter_ns()
            assert (await daemon.scrape()).total("llm_monitor_config_last_reload_success") == 0
            assert (await daemon.get("/readyz")).status_code == 200  # still working
            await asyncio.sleep(2.5)
            assert _requests_since(sim, "keep", refused) >= 2
            assert _requests_since(sim, "new", refused) >= 2

            # 3. Valid, but the storage and the agent's location need a restart: refused and
            # said so (every probe of one process carries one agent and location).
            write(
                "keep",
                "new",
                storage={"url": f"sqlite:///{tmp_path / 'other.db'}"},
                agent={"location": "elsewhere"},
            )
            await daemon.signal(signal.SIGHUP)
            assert await eventually(lambda: _logged(daemon, "config reload failed", 2), 10)
            assert _last(daemon, "config reload failed")["problems"] == [
                "storage: changed; restart llm-monitor to apply it",
                "agent: changed; restart llm-monitor to apply it",
            ]

            # 4. Fixed: the next reload succeeds and says so.
            write("keep", "new")
            await daemon.signal(signal.SIGHUP)
            assert await eventually(lambda: _logged(daemon, "config reloaded", 2), 10)
            scrape = await daemon.scrape()
            assert scrape.total("llm_monitor_config_last_reload_success") == 1
            assert _endpoints(scrape) == {"keep", "new"}
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()[-3000:]


async def _logged(daemon: DaemonProcess, event: str, times: int) -> bool:
    return sum(1 for e in daemon.events() if str(e.get("event")).startswith(event)) >= times


def _last(daemon: DaemonProcess, event: str) -> dict[str, Any]:
    return [e for e in daemon.events() if str(e.get("event")).startswith(event)][-1]


def _endpoints(scrape: Scrape) -> set[str]:
    return {s.labels["endpoint"] for s in scrape.samples if s.name == "llm_monitor_endpoint_info"}
