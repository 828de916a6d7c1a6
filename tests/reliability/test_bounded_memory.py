"""A server that sends an endless line or a 100 MB event cannot make a probe hold it: the SSE
decoder's limits (1 MiB a line, 4 MiB an event) end the probe as a ``protocol_error``, and the
probing process's peak RSS grows by a few MiB, far below the stream's 100 MiB.

The probe runs in a fresh process so that its peak resident set (``VmHWM``, reset just before
the probe through ``/proc/self/clear_refs``) measures the probe alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from monitor.simulator import Simulator

from .harness import KEY, ROOT, sim_config, sim_endpoint

STREAM_BYTES = 100 * 1024 * 1024
#: The most the peak RSS may grow: the limits (4 MiB of event data) plus the buffers around
#: them, with room for the allocator; a probe that held the stream would need 100 MiB.
MAX_GROWTH_BYTES = 16 * 1024 * 1024


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[Simulator]:
    config = sim_config(
        sim_endpoint("warm"),
        sim_endpoint("endless-line", mode="endless_line", flood_bytes=STREAM_BYTES),
        sim_endpoint("huge-event", mode="huge_event", flood_bytes=STREAM_BYTES),
    )
    async with Simulator(config) as simulator:
        yield simulator


async def _probe_in_a_fresh_process(sim: Simulator, endpoint: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.reliability.probe_memory",
        sim.endpoint_url("warm"),
        sim.endpoint_url(endpoint),
        cwd=ROOT,
        env={**os.environ, "SIM_KEY": KEY},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out)
    return report


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("endpoint", "limit"),
    [("endless-line", "max_line_bytes=1048576"), ("huge-event", "max_event_bytes=4194304")],
)
async def test_an_endless_stream_is_refused_in_bounded_memory(
    sim: Simulator, endpoint: str, limit: str
) -> None:
    report = await _probe_in_a_fresh_process(sim, endpoint)

    assert report["warm_outcome"] == "success"
    assert report["outcome"] == "protocol_error", report
    assert report["http_status"] == 200
    assert limit in report["error"]
    growth = (report["peak_kib"] - report["rss_before_kib"]) * 1024
    assert growth < MAX_GROWTH_BYTES, f"peak RSS grew by {growth / 2**20:.1f} MiB"
    # The probe hung up long before the end: the simulator never finished the 100 MiB.
    (truth,) = sim.recent(endpoint_id=endpoint)
    assert truth.ending == "client_closed"
