"""The wall clock jumps (an NTP step, a VM resumed, someone setting the date).

Durations come from the monotonic clock, so TTFT and speed stay right across a jump, and
probes keep their interval: the scheduler notices the jump (``wall_clock`` against
``time.monotonic``) and plans every endpoint anew. Each probe's window is that of its own
(wall-clock) start, and rollups match the stored probes.

In-process, the jump is a controlled clock: the scheduler's injectable ``wall_clock``, and the
same offset applied to the ``datetime.now`` that APScheduler (and the scheduler's own planning)
read, so the scheduler sees exactly what a real jump shows it. The daemon as a process is run
under libfaketime (Debian package ``faketime``) with only ``CLOCK_REALTIME`` faked, changed at
run time through its timestamp file: the machine's clock is never touched.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import structlog
import yaml

import monitor.service.scheduler
from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import window_start
from monitor.probing.runner import ProbeRunner
from monitor.service.scheduler import ProbeScheduler
from monitor.simulator import Simulator
from monitor.store import open_store

from .harness import (
    KEY,
    MODEL,
    DaemonProcess,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
    unavailable,
)

HOUR = 3600.0
#: Debian's libfaketime (multi-threaded flavour), wherever the architecture puts it.
LIBFAKETIME = next(
    iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))),
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"),
)


# --- in-process: the scheduler with a controlled clock ----------------------------------------


@dataclass
class ControlledClock:
    """A wall clock ``offset`` seconds from the real one; the monotonic clock is untouched."""

    offset: float = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def datetime_class(self) -> type[datetime]:
        clock = self

        class Shifted(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) + timedelta(seconds=clock.offset)

        return Shifted


@dataclass
class Probed:
    """What a running scheduler handed over: results, with the monotonic time of each."""

    results: list[tuple[float, ProbeResult]] = field(default_factory=list)
    missed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: ProbeResult) -> None:
        with self.lock:
            self.results.append((time.monotonic(), result))

    def miss(self, endpoint: str, count: int) -> None:
        with self.lock:
            self.missed += count

    def arrivals(self, endpoint: str, since: float = 0.0) -> list[float]:
        with self.lock:
            return [at for at, r in self.results if r.endpoint == endpoint and at >= since]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ControlledClock:
    """A controlled wall clock that APScheduler and the scheduler read too."""
    controlled = ControlledClock()
    shifted = controlled.datetime_class()
    for reader in (
        "apscheduler.schedulers.base",
        "apscheduler.executors.base",
        "monitor.service.scheduler",
    ):
        monkeypatch.setattr(f"{reader}.datetime", shifted)
    return controlled


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(sim_config(sim_endpoint("a"), sim_endpoint("b"))) as simulator:
        yield simulator


def _config(sim: Simulator) -> Config:
    raw = {
        "probe": {"interval": "1s", "timeout": "1s", "jitter": 0},
        "models": [{"id": MODEL}],
        "endpoints": [monitored(sim, "a"), monitored(sim, "b")],
    }
    return parse_config(yaml.safe_dump(raw), environ={"SIM_KEY": KEY})


@pytest.fixture
def captured() -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as logs:
        yield logs


async def _run(
    sim: Simulator, clock: ControlledClock, jump: float, *, on_lag: Any = None
) -> tuple[Probed, float]:
    """Probe for 2 s, jump the wall clock by ``jump`` (unless ``on_lag`` does it), probe 3.5 s
    more; the monotonic time of the jump."""
    probed = Probed()
    scheduler = ProbeScheduler(
        lambda: ProbeRunner(wall_clock=clock.now),
        probed.add,
        on_missed=probed.miss,
        on_lag=on_lag or (lambda seconds: None),
        wall_clock=clock.time,
    )
    await asyncio.to_thread(scheduler.start, _config(sim).endpoints)
    try:
        await asyncio.sleep(2.0)
        if on_lag is None:
            clock.offset = jump
        jumped = time.monotonic()
        await asyncio.sleep(3.5)
    finally:
        await asyncio.to_thread(scheduler.stop, 1.0)
    return probed, jumped


def _assert_kept_its_interval(probed: Probed, jumped: float) -> None:
    for endpoint in ("a", "b"):
        after = probed.arrivals(endpoint, since=jumped)
        # Going on (not waiting an hour), and not catching up with a burst.
        assert 2 <= len(after) <= 4, (endpoint, len(after))
        gaps = [b - a for a, b in itertools.pairwise(probed.arrivals(endpoint))]
        # A reschedule plans the first run 1 s ahead plus its share of the interval (0.5 s for
        # the second of two endpoints), and the slot that met the jump is lost: < 2.5 s + slack.
        assert max(gaps) < 3.0 and min(gaps) > 0.5, gaps
    for _at, result in probed.results:
        assert result.outcome is Outcome.SUCCESS, result.error
        # Durations are monotonic: the jump never shows in them.
        assert result.ttft_seconds is not None and 0.02 < result.ttft_seconds < 0.2


async def test_a_backward_jump_is_rescheduled_and_probing_goes_on(
    sim: Simulator, clock: ControlledClock, captured: list[MutableMapping[str, Any]]
) -> None:
    probed, jumped = await _run(sim, clock, -HOUR)

    _assert_kept_its_interval(probed, jumped)
    jumps = [e for e in captured if e["event"] == "wall clock jumped; rescheduling"]
    assert [round(e["seconds"]) for e in jumps] == [-HOUR]
    # Each probe carries the start time of the clock it ran under: before and after the jump.
    starts = [r.started_at for at, r in probed.results if at > jumped + 1.5]
    assert starts and all(s < datetime.now(UTC) - timedelta(minutes=59) for s in starts)


async def test_a_forward_jump_is_rescheduled_without_a_burst(
    sim: Simulator, clock: ControlledClock, captured: list[MutableMapping[str, Any]]
) -> None:
    probed, jumped = await _run(sim, clock, HOUR)

    _assert_kept_its_interval(probed, jumped)
    jumps = [e for e in captured if e["event"] == "wall clock jumped; rescheduling"]
    assert [round(e["seconds"]) for e in jumps] == [HOUR]


async def test_a_forward_jump_is_not_counted_as_missed_runs(
    sim: Simulator, clock: ControlledClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race made certain: the jump happens right after a lag tick and the next tick is
    # 3 s away, so APScheduler runs a due probe (1 s interval) under the new clock before the
    # jump is seen. In production the lag tick is 0.25 s: with many endpoints, likely anyway.
    monkeypatch.setattr(monitor.service.scheduler, "LAG_TICK_SECONDS", 3.0)
    ticks = itertools.count()

    def jump_after_the_first_tick(seconds: float) -> None:
        # Called on the measuring loop just before the tick compares the clocks: the jump
        # comes a moment after that comparison.
        if next(ticks) == 0:
            asyncio.get_running_loop().call_later(0.05, setattr, clock, "offset", HOUR)

    probed, _jumped = await _run(sim, clock, HOUR, on_lag=jump_after_the_first_tick)

    assert probed.missed == 0


# --- the daemon under libfaketime -------------------------------------------------------------


@dataclass
class FakedRun:
    """What a daemon run through a backward and a forward jump showed."""

    sim_requests: list[Any]
    log: str
    stored: list[ProbeResult]
    rollups: list[Any]
    rolled_after_back_jump: list[str]
    exit_code: int
    jumps: list[float]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def faked(tmp_path_factory: pytest.TempPathFactory) -> FakedRun:
    if not LIBFAKETIME.exists():
        unavailable(
            f"libfaketime is not installed ({LIBFAKETIME}; Debian package faketime)",
            "LLM_MONITOR_REQUIRE_FAKETIME",
        )
    tmp = tmp_path_factory.mktemp("faketime")
    spec = tmp / "faketime.txt"
    spec.write_text("+0\n")
    env = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(spec),
        "FAKETIME_CACHE_DURATION": "1",  # re-read the file at most once a second
        "DONT_FAKE_MONOTONIC": "1",  # only CLOCK_REALTIME jumps
    }
    async with Simulator(sim_config(sim_endpoint("a"), sim_endpoint("b"))) as sim:
        port = free_port()
        url = f"sqlite:///{tmp / 'monitor.db'}"
        config = monitor_config(
            tmp / "monitor.yaml", [monitored(sim, "a"), monitored(sim, "b")],
            storage_url=url, port=port,
        )  # fmt: skip
        async with DaemonProcess(config, tmp / "daemon.log", port=port, env=env) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(3)
            spec.write_text(f"-{HOUR:g}\n")
            # A window and its settle time (8 s), and the file's 1 s cache: the window job ran.
            await asyncio.sleep(11)
            rolled = await daemon.get("/api/v1/rollups", params={"since": "10m", "until": "now"})
            rolled_after = [r["window_start"] for r in rolled.json()["rollups"]]
            spec.write_text("+0\n")
            await asyncio.sleep(3)
            code, _ = await daemon.stop()
        requests = sim.recent(10_000)
    store = open_store(url)
    try:
        stored = store.probes(limit=100_000, newest_first=False)
        rollups = store.rollups(window_seconds=5)
    finally:
        store.close()
    events = daemon.events()
    jumps = [e["seconds"] for e in events if e.get("event") == "wall clock jumped; rescheduling"]
    return FakedRun(requests, daemon.log_text(), stored, rollups, rolled_after, code, jumps)


@pytest.mark.asyncio(loop_scope="module")
async def test_the_daemon_under_faketime_sees_both_jumps_and_keeps_probing(
    faked: FakedRun,
) -> None:
    assert faked.exit_code == 0, faked.log[-3000:]
    assert [round(s) for s in faked.jumps] == [-HOUR, HOUR]
    for endpoint in ("a", "b"):
        arrivals = sorted(t.received_ns for t in faked.sim_requests if t.endpoint == endpoint)
        gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(arrivals)]
        assert len(arrivals) >= 14 and max(gaps) < 3.0, gaps


@pytest.mark.asyncio(loop_scope="module")
async def test_durations_across_jumps_match_the_simulators_own(faked: FakedRun) -> None:
    truths = {t.request_id: t for t in faked.sim_requests}
    assert len(faked.stored) == len(truths)
    for probe in faked.stored:
        assert probe.outcome is Outcome.SUCCESS, probe.error
        truth = truths[probe.provider_request_id or ""]
        assert probe.ttft_seconds is not None and truth.ttft_seconds is not None
        # A duration taken on the wall clock would be off by the jump (an hour). Half a second
        # leaves room for a loaded machine's scheduling between the two processes (a CI run
        # saw 100 ms: the probing loop held up while the first token arrived, which issue 16's
        # kernel stamps address); the measuring error itself is benchmarked (bench accuracy).
        assert abs(probe.ttft_seconds - truth.ttft_seconds) < 0.5


@pytest.mark.asyncio(loop_scope="module")
async def test_windows_follow_each_probes_start_and_rollups_match_after_a_stop(
    faked: FakedRun,
) -> None:
    arrival = {t.request_id: t.received_ns for t in faked.sim_requests}
    in_order = sorted(faked.stored, key=lambda p: arrival[p.provider_request_id or ""])
    starts = [p.started_at for p in in_order]
    # Started an hour back after the first jump, at the real time again after the second.
    assert any(b < a - timedelta(minutes=59) for a, b in itertools.pairwise(starts))
    assert any(b > a + timedelta(minutes=59) for a, b in itertools.pairwise(starts))
    counts: dict[tuple[str, datetime], int] = {}
    for probe in faked.stored:
        key = (probe.endpoint, window_start(probe.started_at, 5))
        counts[key] = counts.get(key, 0) + 1
    by_key = {(r.endpoint, r.window_start): r.probes for r in faked.rollups}
    assert {k: by_key.get(k) for k in counts} == counts


@pytest.mark.asyncio(loop_scope="module")
async def test_windows_keep_being_rolled_up_after_a_backward_jump(faked: FakedRun) -> None:
    assert faked.rolled_after_back_jump, "no window rolled up since the clock went back"
