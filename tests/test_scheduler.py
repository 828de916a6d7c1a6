"""The probe scheduler: spread first runs, intervals kept, one probe per endpoint, clean stop.

The scheduler runs on virtual time (tests/virtual_time.py): its loop jumps from timer to timer
up to the time the test names, so every expectation is exact and nothing depends on how fast
or loaded the machine is; probes are real requests to the simulator (or a canned server), and
while one is on its way virtual time runs with real time. APScheduler reads ``datetime.now``
itself: the ``clock`` fixture points that at the virtual wall clock too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import yaml

from monitor.config import Config, Endpoint, parse_config
from monitor.core.outcomes import Outcome, SkipReason
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner
from monitor.service.scheduler import (
    BACKOFF_MAX_SECONDS,
    LAG_SPAN_SECONDS,
    LAG_TICK_SECONDS,
    ProbeScheduler,
    backoff_runs,
)
from monitor.simulator import Simulator, SimulatorConfig

from .canned_http import KEY as CANNED_KEY
from .canned_http import canned_server, response
from .virtual_time import VirtualClock

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


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """Virtual time for the scheduler, and for the ``datetime.now`` that APScheduler reads."""
    virtual = VirtualClock()
    for reader in ("apscheduler.schedulers.base", "apscheduler.executors.base"):
        monkeypatch.setattr(f"{reader}.datetime", virtual.datetime_class())
    return virtual


def _config(sim: Simulator, ids: dict[str, str], **probe: object) -> Config:
    # Virtual seconds cost nothing: intervals of 10 s leave the real requests seconds to answer.
    raw = {
        "probe": {"interval": "10s", "timeout": "5s", "jitter": 0, **probe},
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


@dataclass
class _Seen:
    """What a scheduler did, in virtual seconds (everything is handed over on its loop)."""

    calls: list[tuple[str, float]] = field(default_factory=list)
    results: list[ProbeResult] = field(default_factory=list)
    missed: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)

    def starts(self, endpoint: str) -> list[float]:
        """When the scheduler started a probe of ``endpoint``."""
        return [at for called, at in self.calls if called == endpoint]

    def miss(self, endpoint: str, count: int) -> None:
        self.missed[endpoint] = self.missed.get(endpoint, 0) + count


class _Runner(ProbeRunner):
    """The real runner, on virtual time: notes when the scheduler calls it, can spend virtual
    seconds before its request (``delay``) or hold the loop up in its first probe
    (``hold_up``), and its request is real I/O."""

    def __init__(
        self, clock: VirtualClock, seen: _Seen, *, delay: float = 0.0, hold_up: float = 0.0
    ) -> None:
        super().__init__(wall_clock=clock.now)
        self._clock, self._seen, self._delay, self._hold_up = clock, seen, delay, hold_up

    async def probe(self, endpoint: Endpoint) -> ProbeResult:
        self._seen.calls.append((endpoint.id, self._clock.monotonic()))
        if self._hold_up:
            self._clock.hold_up(self._hold_up)  # as if it computed for that long
            self._hold_up = 0.0
        if self._delay:
            await asyncio.sleep(self._delay)
        with self._clock.real_io():
            return await super().probe(endpoint)


@asynccontextmanager
async def _scheduling(
    clock: VirtualClock, endpoints: Sequence[Endpoint], seen: _Seen, **runner: float
) -> AsyncIterator[ProbeScheduler]:
    """A scheduler on ``clock``, started at virtual 0 s with ``endpoints``; stopped at the end
    if the test did not stop it."""
    scheduler = ProbeScheduler(
        lambda: _Runner(clock, seen, **runner),
        seen.results.append,
        on_missed=seen.miss,
        on_skipped=lambda endpoint, why: seen.skipped.append((endpoint, why)),
        on_lag=lambda seconds: seen.lags.append((clock.monotonic(), seconds)),
        wall_clock=clock.time,
        monotonic=clock.monotonic,
        loop_factory=clock.new_loop,
    )
    await asyncio.to_thread(scheduler.start, endpoints)
    try:
        yield scheduler
    finally:
        await _stop(clock, scheduler, 1.0)


async def _run_until(clock: VirtualClock, seconds: float, *, settle: bool = True) -> None:
    await asyncio.to_thread(clock.run_until, seconds, settle=settle)


async def _stop(clock: VirtualClock, scheduler: ProbeScheduler, grace: float) -> None:
    clock.release()
    await asyncio.to_thread(scheduler.stop, grace)


def _exactly(seconds: Sequence[float]) -> object:
    """Virtual times, to the microsecond APScheduler plans in."""
    return pytest.approx(list(seconds), abs=1e-3)


async def test_endpoints_are_probed_on_their_interval_with_spread_first_runs(
    sim: Simulator, clock: VirtualClock
) -> None:
    config = _config(sim, {"a": "fast", "b": "fast", "c": "fast", "d": "fast"})
    seen = _Seen()
    async with _scheduling(clock, config.endpoints, seen) as scheduler:
        running_while_started = scheduler.running
        await _run_until(clock, 40.0)
        await _stop(clock, scheduler, 1.0)
    assert (running_while_started, scheduler.running) == (True, False)
    # First runs 1 s after the start and a quarter of the interval apart, not all at once;
    # then every endpoint on its own 10 s grid.
    for endpoint, first in (("a", 1.0), ("b", 3.5), ("c", 6.0), ("d", 8.5)):
        assert seen.starts(endpoint) == _exactly([first + 10 * n for n in range(4)]), endpoint
    assert len(seen.results) == 16
    for result in seen.results:
        assert result.outcome is Outcome.SUCCESS, result.error
    assert seen.missed == {} and seen.skipped == []


async def test_a_loop_held_up_shows_as_lag_for_the_lag_span(
    sim: Simulator, clock: VirtualClock
) -> None:
    config = _config(sim, {"a": "fast"}, interval="1m", timeout="5s")
    seen = _Seen()
    async with _scheduling(clock, config.endpoints, seen, hold_up=2.0):
        await _run_until(clock, 20.0)
    # The probe at 1 s held the loop for 2 s: the lag tick due in that time came up to 2 s
    # late (2 s less the part of its tick it had slept before); the maximum over the last
    # LAG_SPAN_SECONDS is reported on every tick, and then forgotten.
    resumed = 1.0 + 2.0
    before = [lag for at, lag in seen.lags if at < 1.0]
    during = [lag for at, lag in seen.lags if resumed <= at < resumed + LAG_SPAN_SECONDS - 0.5]
    after = [lag for at, lag in seen.lags if at > resumed + LAG_SPAN_SECONDS + 0.5]
    assert len(before) == 3 and max(before) < 1e-6
    assert len(during) >= 30
    assert all(2.0 - LAG_TICK_SECONDS - 1e-6 <= lag <= 2.0 + 1e-6 for lag in during), during
    assert len(after) >= 10 and max(after) < 1e-6
    assert [r.outcome for r in seen.results] == [Outcome.SUCCESS]


async def test_stop_records_probes_still_in_flight_as_cancelled(
    sim: Simulator, clock: VirtualClock
) -> None:
    config = _config(sim, {"stuck": "hang"})
    seen = _Seen()
    async with _scheduling(clock, config.endpoints, seen) as scheduler:
        # The first run starts at 1 s and hangs mid-stream (its timeout is 5 s).
        await _run_until(clock, 1.5, settle=False)
        await _stop(clock, scheduler, 0.3)
    assert seen.starts("stuck") == _exactly([1.0])
    assert [(r.endpoint, r.outcome) for r in seen.results] == [("stuck", Outcome.CANCELLED)]
    # It ran from its start until cancelled at the end of the 0.3 s grace time.
    result = seen.results[0]
    assert result.started_at.timestamp() == pytest.approx(clock.epoch + 1.0, abs=1e-3)
    assert result.duration_seconds == pytest.approx(0.8, abs=1e-3)


async def test_in_flight_probes_may_finish_within_the_grace_time(
    sim: Simulator, clock: VirtualClock
) -> None:
    config = _config(sim, {"slowish": "fast"})
    seen = _Seen()
    async with _scheduling(clock, config.endpoints, seen, delay=0.5) as scheduler:
        await _run_until(clock, 1.2)  # mid-probe: it started at 1 s and sends at 1.5 s
        assert seen.starts("slowish") == _exactly([1.0]) and seen.results == []
        await _stop(clock, scheduler, 3.0)
    assert [r.outcome for r in seen.results] == [Outcome.SUCCESS]


async def test_runs_that_cannot_start_on_time_are_counted_as_missed(
    sim: Simulator, clock: VirtualClock
) -> None:
    config = _config(sim, {"slow": "fast"})
    seen = _Seen()
    # Stands in for a probe that outlives its interval (e.g. after a long jitter): 25 s.
    async with _scheduling(clock, config.endpoints, seen, delay=25.0):
        await _run_until(clock, 65.0)
    # One probe at a time: the runs at 11 and 21 s, and at 41 and 51 s, found one running.
    assert seen.starts("slow") == _exactly([1.0, 31.0, 61.0])
    assert seen.missed.get("slow", 0) >= 4
    # The third was still waiting when the scheduler stopped.
    outcomes = [r.outcome for r in seen.results]
    assert outcomes == [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.CANCELLED]


async def test_each_run_that_found_its_probe_still_running_is_counted_once(
    sim: Simulator, clock: VirtualClock
) -> None:
    config = _config(sim, {"slow": "fast"})
    seen = _Seen()
    async with _scheduling(clock, config.endpoints, seen, delay=25.0):
        await _run_until(clock, 65.0)
    assert seen.starts("slow") == _exactly([1.0, 31.0, 61.0])
    assert seen.missed == {"slow": 4}  # 11, 21, 41 and 51 s


async def test_endpoints_can_be_added_and_removed_while_running(
    sim: Simulator, clock: VirtualClock
) -> None:
    first = _config(sim, {"keep": "fast", "drop": "fast"})
    second = _config(sim, {"keep": "fast", "new": "fast"})
    seen = _Seen()
    async with _scheduling(clock, first.endpoints, seen) as scheduler:
        await _run_until(clock, 8.0)
        await asyncio.to_thread(scheduler.set_endpoints, second.endpoints)
        await _run_until(clock, 25.0)
    # The kept endpoint keeps its grid; the new one starts 1 s after the change.
    assert seen.starts("keep") == _exactly([1.0, 11.0, 21.0])
    assert seen.starts("drop") == _exactly([6.0])
    assert seen.starts("new") == _exactly([9.0, 19.0])


# --- 429s: the provider's wait, or our exponential back-off -----------------------------------

#: A gateway's 429: no retry-after, no reset headers, and a message that names no wait.
GATEWAY_429 = response(429, {"error": {"message": "litellm.RateLimitError: RateLimitError: "
                                       "OpenAIException - Rate limit exceeded.", "type": None,
                                       "param": None, "code": "429"}})  # fmt: skip
GATEWAY_500 = response(500, {"error": {"message": "litellm.InternalServerError: boom",
                                       "code": "500"}})  # fmt: skip


def _canned_config(url: str) -> Config:
    raw = {
        "probe": {"interval": "10s", "timeout": "5s", "jitter": 0},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [{"id": "gateway", "model": "gpt-4.1-nano", "provider": "openai_compatible",
                       "base_url": url, "api_key_env": "K"}],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": CANNED_KEY})


async def test_429s_without_a_wait_back_off_exponentially_until_another_answer(
    clock: VirtualClock,
) -> None:
    seen = _Seen()
    async with (
        canned_server(GATEWAY_429, GATEWAY_429, GATEWAY_500, GATEWAY_429) as server,
        _scheduling(clock, _canned_config(server.url).endpoints, seen),
    ):
        await _run_until(clock, 85.0)
    outcomes = [r.outcome for r in seen.results]
    assert (
        outcomes == [Outcome.RATE_LIMITED] * 2 + [Outcome.SERVER_ERROR] + [Outcome.RATE_LIMITED] * 2
    )
    assert all(r.retry_after_seconds is None for r in seen.results)
    # 1 run skipped after the first 429 (11 s), 2 after the second (31, 41 s); the 500 ends
    # the streak, so the next 429 is again followed by 1 skipped run (71 s).
    assert seen.starts("gateway") == _exactly([1.0, 21.0, 51.0, 61.0, 81.0])
    assert seen.skipped == [("gateway", "backoff")] * 4
    assert len(server.arrivals) == 5


async def test_a_429_whose_wait_is_only_in_its_reset_header_is_waited_out(
    clock: VirtualClock,
) -> None:
    # The gateway dropped retry-after but passed OpenAI's x-ratelimit-reset-requests on.
    limited = response(
        429,
        {"error": {"message": "Rate limit exceeded", "code": "rate_limit_exceeded"}},
        {"x-ratelimit-reset-requests": "25s", "x-ratelimit-remaining-requests": "0"},
    )
    seen = _Seen()
    async with (
        canned_server(limited) as server,
        _scheduling(clock, _canned_config(server.url).endpoints, seen),
    ):
        await _run_until(clock, 35.0)
    assert seen.results[0].retry_after_seconds == 25.0
    # Waited out from the 429 at 1 s: the runs at 11 and 21 s are skipped, 31 s probes.
    assert seen.starts("gateway") == _exactly([1.0, 31.0])
    assert seen.skipped == [("gateway", "retry_after")] * 2
    assert len(server.arrivals) == 2


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
