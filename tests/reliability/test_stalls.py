"""A probing process stopped (SIGSTOP, then SIGCONT) while the first token arrives, over HTTP
and HTTPS: with kernel receive stamps the TTFT is the arrival, not the late read
(docs/design.md#arrival-time). The simulator runs in this process and keeps sending while the
probe's process is stopped; its send times are the truth, on the same monotonic clock.

- ``paused``: the server pauses after the first token, so nothing queues behind it: the TTFT is
  within a few ms of the truth with kernel stamps, and late by the stop with the loop's.
- ``queued``: tokens keep coming during the stop and are merged into the first read, which
  carries the newest arrival: the TTFT is late by at most how late the read came, the probe says
  its first token queued, and the output speed is still right.

The stop is centred on the simulator's first-token send; ``bench.stalls`` (the same code) makes
the table in docs/benchmarks.md.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bench.stalls import Prober, StallRun, self_signed, simulator_config, stalled_runs, tls_context
from monitor.probing.transport import kernel_stamps_available
from monitor.simulator import Simulator

STALL = 0.3
#: Fast enough to keep each run short, slow enough that a 300 ms stop queues 15 tokens.
TOKENS_PER_SECOND = 100.0

pytestmark = pytest.mark.skipif(
    not kernel_stamps_available(), reason="kernel receive stamps are a Linux feature"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("stalls"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulators(
    certificate: tuple[Path, Path],
) -> AsyncIterator[dict[str, Simulator]]:
    tls: ssl.SSLContext = tls_context(*certificate)
    async with (
        Simulator(simulator_config(TOKENS_PER_SECOND)) as plain,
        Simulator(simulator_config(TOKENS_PER_SECOND), tls=tls) as secured,
    ):
        yield {"http": plain, "https": secured}


async def _runs(
    simulators: dict[str, Simulator],
    certificate: tuple[Path, Path],
    scheme: str,
    probe: str,
    stream: str,
    runs: int = 2,
) -> list[StallRun]:
    sim = simulators[scheme]
    ca = certificate[0] if scheme == "https" else None
    async with Prober(probe, sim.endpoint_url(stream), ca) as prober:
        return await stalled_runs(prober, sim, stream, STALL, runs)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_stop_across_the_first_token_leaves_the_kernel_stamped_ttft_exact(
    simulators: dict[str, Simulator], certificate: tuple[Path, Path], scheme: str
) -> None:
    for run in await _runs(simulators, certificate, scheme, "kernel", "paused"):
        assert run.late_ms > 100  # the process could not read the token for that long
        assert abs(run.ttft_error_ms) < 5, run
        assert run.stamp_source == "kernel"
        assert run.first_token_queued is False
        assert run.speed_error_pct is not None and abs(run.speed_error_pct) < 3, run


@pytest.mark.asyncio(loop_scope="module")
async def test_with_the_loops_read_times_the_same_stop_lands_in_the_ttft(
    simulators: dict[str, Simulator], certificate: tuple[Path, Path]
) -> None:
    # What the kernel stamps remove: LLM_MONITOR_KERNEL_STAMPS=off, every arrival the read time.
    for run in await _runs(simulators, certificate, "http", "loop", "paused"):
        assert run.stamp_source == "loop"
        assert run.ttft_error_ms > 100
        assert run.ttft_error_ms == pytest.approx(run.late_ms, abs=20)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_tokens_queued_behind_the_first_bound_the_error_and_keep_the_speed_right(
    simulators: dict[str, Simulator], certificate: tuple[Path, Path], scheme: str
) -> None:
    for run in await _runs(simulators, certificate, scheme, "kernel", "queued"):
        assert run.stamp_source == "kernel"
        assert run.first_token_queued is True
        # The merged read carries its newest segment's arrival: after the first token's,
        # never after the read (the documented bound).
        assert -1 < run.ttft_error_ms <= run.late_ms + 5, run
        assert run.speed_error_pct is not None and abs(run.speed_error_pct) < 5, run
