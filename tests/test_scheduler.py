"""The probe scheduler: spread first runs, intervals kept, one probe per endpoint, clean stop."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import yaml

from monitor.config import Config, Endpoint, parse_config
from monitor.core.outcomes import Outcome, SkipReason
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner
from monitor.service.scheduler import BACKOFF_MAX_SECONDS, ProbeScheduler, backoff_runs
from monitor.simulator import Simulator, SimulatorConfig

from .canned_http import KEY as CANNED_KEY
from .canned_http import canned_server, response

KEY = "sk-scheduler-tests-000000"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig.model_validate(
        {
            "port": 0,
            "endpoints": [
                {"id": "fast", "api_key": KEY, "ttft": "20ms", "tokens_per_second": 2000},
                {"id": "hang", "api_key": KEY, "mode": "hang_mid_stream", "ttft": "20ms"},
            ],
        }
    )
    async with Simulator(config) as simulator:
        yield simulator


def _config(sim: Simulator, ids: dict[str, str], **probe: object) -> Config:
    raw = {
        "probe": {"interval": "1s", "timeout": "1s", "jitter": 0, **probe},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {
                "id": eid,
                "model": "gpt-4.1-nano",
                "provider": "openai",
                "base_url": sim.endpoint_url(sim_id),
                "api_key_env": "K",
            }
            for eid, sim_id in ids.items()
        ],
    }
    return parse_config(yaml.safe_dump(raw), environ={"K": KEY})


class _Collector:
    def __init__(self) -> None:
        self.results: list[ProbeResult] = []
        self.lock = threading.Lock()
        self.missed: dict[str, int] = {}

    def add(self, result: ProbeResult) -> None:
        with self.lock:
            self.results.append(result)

    def miss(self, endpoint: str, count: int) -> None:
        with self.lock:
            self.missed[endpoint] = self.missed.get(endpoint, 0) + count


async def test_endpoints_are_probed_on_their_interval_with_spread_first_runs(
    sim: Simulator,
) -> None:
    config = _config(sim, {"a": "fast", "b": "fast", "c": "fast", "d": "fast"})
    collected = _Collector()
    lags: list[float] = []
    scheduler = ProbeScheduler(ProbeRunner, collected.add, on_lag=lags.append)
    await asyncio.to_thread(scheduler.start, config.endpoints)
    running_while_started = scheduler.running
    await asyncio.sleep(4.6)
    await asyncio.to_thread(scheduler.stop, 1.0)
    assert (running_while_started, scheduler.running) == (True, False)
    by_endpoint: dict[str, list[datetime]] = {}
    for result in collected.results:
        assert result.outcome is Outcome.SUCCESS, result.error
        by_endpoint.setdefault(result.endpoint, []).append(result.started_at)
    assert set(by_endpoint) == {"a", "b", "c", "d"}
    for starts in by_endpoint.values():
        assert 3 <= len(starts) <= 5
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        assert all(0.8 < gap < 1.2 for gap in gaps), gaps
    # First runs are spread over the interval: a quarter of a second apart, not all at once.
    firsts = sorted(starts[0] for starts in by_endpoint.values())
    offsets = [(b - a).total_seconds() for a, b in itertools.pairwise(firsts)]
    assert all(0.15 < offset < 0.35 for offset in offsets), offsets
    assert lags and max(lags) < 0.5


async def test_stop_records_probes_still_in_flight_as_cancelled(sim: Simulator) -> None:
    config = _config(sim, {"stuck": "hang"}, interval="5s", timeout="5s")
    collected = _Collector()
    scheduler = ProbeScheduler(ProbeRunner, collected.add)
    await asyncio.to_thread(scheduler.start, config.endpoints)
    await asyncio.sleep(1.6)  # the first run starts after ~1 s and hangs mid-stream
    began = time.monotonic()
    await asyncio.to_thread(scheduler.stop, 0.3)
    assert time.monotonic() - began < 2.0
    assert [r.outcome for r in collected.results] == [Outcome.CANCELLED]
    assert collected.results[0].endpoint == "stuck"
    # It ran from its start until cancelled, after at least the 0.3 s grace time.
    duration = collected.results[0].duration_seconds
    assert duration is not None and 0.25 < duration < 3.0, duration


async def test_in_flight_probes_may_finish_within_the_grace_time(sim: Simulator) -> None:
    config = _config(sim, {"slowish": "fast"}, interval="5s", timeout="5s")
    collected = _Collector()
    finished = threading.Event()

    class SlowRunner(ProbeRunner):
        async def probe(self, endpoint: Endpoint) -> ProbeResult:
            await asyncio.sleep(0.5)
            result = await super().probe(endpoint)
            finished.set()
            return result

    scheduler = ProbeScheduler(SlowRunner, collected.add)
    await asyncio.to_thread(scheduler.start, config.endpoints)
    await asyncio.sleep(1.2)  # mid-probe
    await asyncio.to_thread(scheduler.stop, 3.0)
    assert finished.is_set()
    assert [r.outcome for r in collected.results] == [Outcome.SUCCESS]


async def test_runs_that_cannot_start_on_time_are_counted_as_missed(sim: Simulator) -> None:
    config = _config(sim, {"slow": "fast"})

    class VerySlowRunner(ProbeRunner):
        # Stands in for a probe that outlives its interval (e.g. after a long jitter).
        async def probe(self, endpoint: Endpoint) -> ProbeResult:
            await asyncio.sleep(2.5)
            return await super().probe(endpoint)

    collected = _Collector()
    scheduler = ProbeScheduler(VerySlowRunner, collected.add, on_missed=collected.miss)
    await asyncio.to_thread(scheduler.start, config.endpoints)
    await asyncio.sleep(4.5)
    await asyncio.to_thread(scheduler.stop, 3.0)
    assert collected.missed.get("slow", 0) >= 1
    # Never two probes of one endpoint at the same time.
    spans = sorted(
        (r.started_at, r.started_at.timestamp() + (r.total_seconds or 0)) for r in collected.results
    )
    for (_a, end), (b, _end) in itertools.pairwise(spans):
        assert b.timestamp() >= end - 0.05


async def test_endpoints_can_be_added_and_removed_while_running(sim: Simulator) -> None:
    first = _config(sim, {"keep": "fast", "drop": "fast"})
    second = _config(sim, {"keep": "fast", "new": "fast"})
    collected = _Collector()
    scheduler = ProbeScheduler(ProbeRunner, collected.add)
    await asyncio.to_thread(scheduler.start, first.endpoints)
    await asyncio.sleep(1.8)
    switched = datetime.now(UTC)
    await asyncio.to_thread(scheduler.set_endpoints, second.endpoints)
    await asyncio.sleep(2.5)
    await asyncio.to_thread(scheduler.stop, 1.0)
    after = {r.endpoint for r in collected.results if r.started_at > switched}
    assert after == {"keep", "new"}


# --- 429s: the provider's wait, or our exponential back-off -----------------------------------

#: A gateway's 429: no retry-after, no reset headers, and a message that names no wait.
GATEWAY_429 = response(429, {"error": {"message": "litellm.RateLimitError: RateLimitError: "
                                       "OpenAIException - Rate limit exceeded.", "type": None,
                                       "param": None, "code": "429"}})  # fmt: skip
GATEWAY_500 = response(500, {"error": {"message": "litellm.InternalServerError: boom",
                                       "code": "500"}})  # fmt: skip


def _canned_config(url: str) -> Config:
    raw = {
        "probe": {"interval": "1s", "timeout": "1s", "jitter": 0},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [{"id": "gateway", "model": "gpt-4.1-nano", "provider": "openai_compatible",
                       "base_url": url, "api_key_env": "K"}],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": CANNED_KEY})


async def _run_until(arrivals: list[float], requests: int, scheduler: ProbeScheduler) -> None:
    """Run until the server has seen ``requests`` requests (and a little more), then stop."""
    for _ in range(300):
        if len(arrivals) >= requests:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    await asyncio.to_thread(scheduler.stop, 1.0)


async def test_429s_without_a_wait_back_off_exponentially_until_another_answer() -> None:
    skipped: list[tuple[str, str]] = []
    collected = _Collector()
    async with canned_server(GATEWAY_429, GATEWAY_429, GATEWAY_500, GATEWAY_429) as server:
        scheduler = ProbeScheduler(
            ProbeRunner, collected.add, on_skipped=lambda e, why: skipped.append((e, why))
        )
        await asyncio.to_thread(scheduler.start, _canned_config(server.url).endpoints)
        await _run_until(server.arrivals, 5, scheduler)
    outcomes = [r.outcome for r in collected.results[:5]]
    assert (
        outcomes == [Outcome.RATE_LIMITED] * 2 + [Outcome.SERVER_ERROR] + [Outcome.RATE_LIMITED] * 2
    )
    assert all(r.retry_after_seconds is None for r in collected.results)
    # 1 run skipped after the first 429, 2 after the second; the 500 ends the streak, so the
    # next 429 is again followed by 1 skipped run (interval 1 s, gaps in whole intervals).
    gaps = [b - a for a, b in itertools.pairwise(server.arrivals[:5])]
    assert [round(gap) for gap in gaps] == [2, 3, 1, 2], gaps
    assert all(abs(gap - round(gap)) < 0.4 for gap in gaps), gaps
    assert skipped[:4] == [("gateway", "backoff")] * 4


async def test_a_429_whose_wait_is_only_in_its_reset_header_is_waited_out() -> None:
    # The gateway dropped retry-after but passed OpenAI's x-ratelimit-reset-requests on.
    limited = response(
        429,
        {"error": {"message": "Rate limit exceeded", "code": "rate_limit_exceeded"}},
        {"x-ratelimit-reset-requests": "2.5s", "x-ratelimit-remaining-requests": "0"},
    )
    skipped: list[tuple[str, str]] = []
    collected = _Collector()
    async with canned_server(limited) as server:
        scheduler = ProbeScheduler(
            ProbeRunner, collected.add, on_skipped=lambda e, why: skipped.append((e, why))
        )
        await asyncio.to_thread(scheduler.start, _canned_config(server.url).endpoints)
        await _run_until(server.arrivals, 2, scheduler)
    assert collected.results[0].retry_after_seconds == 2.5
    assert server.arrivals[1] - server.arrivals[0] >= 2.5
    assert skipped[:2] == [("gateway", "retry_after")] * 2


@pytest.mark.parametrize(
    ("in_a_row", "interval", "runs"),
    [
        (1, 60, 1), (2, 60, 2), (3, 60, 4), (4, 60, 8), (5, 60, 10), (50, 60, 10),
        (1, 1, 1), (10, 1, 512), (11, 1, 600), (1000, 1, 600),
        (1, 900, 1), (3, 900, 1),  # an interval past the cap still skips one run
        (0, 60, 1),
    ],
)  # fmt: skip
def test_the_back_off_doubles_per_429_in_a_row_up_to_ten_minutes(
    in_a_row: int, interval: float, runs: int
) -> None:
    assert backoff_runs(in_a_row, interval) == runs
    assert runs * interval <= max(BACKOFF_MAX_SECONDS, interval)


def test_skip_reasons_are_the_documented_label_values() -> None:
    assert [reason.value for reason in SkipReason] == ["retry_after", "backoff"]
