"""Incidents from a real outage (docs/design.md#incidents): the daemon runs as a process, the
simulator fails an endpoint for a known stretch of time, and the daemon is killed with SIGKILL
in the middle of it. The incident it opened is carried on by the restarted daemon, not opened a
second time, and it ends when the endpoint came back; the API lists it and the metric follows
it; a single failure opens none."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.simulator import Simulator

from .harness import (
    DaemonProcess,
    eventually,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)

#: Probes every second: the incident opens after 3 failed slots and closes after 2 good ones.
INTERVAL = 1.0


async def _incidents(daemon: DaemonProcess, **params: str) -> dict[str, Any]:
    response = await daemon.get("/api/v1/incidents", params={"since": "1h", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _open_flag(daemon: DaemonProcess, endpoint: str) -> float | None:
    scrape = await daemon.scrape()
    if not scrape.has("llm_monitor_endpoint_incident_open", endpoint=endpoint):
        return None
    return scrape.total("llm_monitor_endpoint_incident_open", endpoint=endpoint)


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_an_outage_across_a_kill_9_is_one_incident_with_its_start_and_length(
    tmp_path: Path,
) -> None:
    config = sim_config(sim_endpoint("down"), sim_endpoint("blip"))
    async with Simulator(config) as sim:
        port = free_port()
        path = monitor_config(
            tmp_path / "monitor.yaml",
            [monitored(sim, "down"), monitored(sim, "blip")],
            storage_url=f"sqlite:///{tmp_path / 'monitor.db'}",
            port=port,
            window=60,
        )
        daemon = DaemonProcess(path, tmp_path / "daemon.log", port=port)
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(3)
            assert await _open_flag(daemon, "down") == 0.0

            went_down = time.time()
            sim.set_mode("down", "server_error")
            # One failed probe of "blip" (a second is one slot): no incident.
            sim.set_mode("blip", "server_error")
            await asyncio.sleep(INTERVAL * 0.9)
            sim.set_mode("blip", None)

            async def opened() -> bool:
                return await _open_flag(daemon, "down") == 1.0

            assert await eventually(opened, 20), daemon.log_text()[-3000:]
            (incident,) = (await _incidents(daemon, open="true"))["incidents"]
            assert incident["endpoint"] == "down" and incident["open"]
            assert incident["outcomes"].keys() == {"server_error"}
            assert incident["first_error"].startswith("HTTP 500")

            # kill -9 mid-incident; the outage goes on while the daemon is away.
            await daemon.kill()
            await asyncio.sleep(2)
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(3)
            came_back = time.time()
            sim.set_mode("down", None)

            async def closed() -> bool:
                return await _open_flag(daemon, "down") == 0.0

            assert await eventually(closed, 20), daemon.log_text()[-3000:]
            body = await _incidents(daemon)
            (incident,) = body["incidents"]  # one, not a second one after the restart
            assert incident["endpoint"] == "down" and not incident["open"]
            # Its start and end are those of the outage, within one probe interval (a probe
            # that started just before the switch may be the first to fail).
            assert went_down - 0.5 <= _at(incident["started_at"]) <= went_down + INTERVAL + 0.5
            assert came_back - 0.5 <= _at(incident["ended_at"]) <= came_back + INTERVAL + 0.5
            length = came_back - went_down
            assert abs(incident["duration_seconds"] - length) <= 2 * INTERVAL + 0.5
            assert body["summary"]["count"] == 1 and body["summary"]["open"] == 0
            assert await _open_flag(daemon, "blip") == 0.0
            assert (await _incidents(daemon, endpoint="blip"))["incidents"] == []
            events = [e["event"] for e in daemon.events()]
            assert events.count("incident opened") == 1
            assert events.count("incident closed") == 1
            code, _ = await daemon.stop()
            assert code == 0
