"""The window job on a real SQLite store: backfill, idempotence, late probes, profiles."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.metrics import CounterFamily, MetricsRegistry
from monitor.metrics.names import Spec
from monitor.service.aggregator import Aggregator, Snapshot, last_complete_window, snapshot
from monitor.store import Store, open_store
from tests.store.factories import bare_probe, make_probe

CONFIG = """
probe: {timeout: 5s, interval: 10s}
rollup: {window: 60s}
profile: {uptime_window: 1h}
models: [{id: gpt-4.1-nano, pricing: {input_per_million: 0.1, output_per_million: 0.4}}]
endpoints:
  - {id: openai, model: gpt-4.1-nano, provider: openai, base_url: "https://a/v1", api_key_env: K}
  - {id: azure-eastus, model: gpt-4.1-nano, provider: azure, base_url: "https://b",
     deployment: d, api_key_env: K, region: eastus}
"""
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG, environ={"K": "k"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/agg.db")
    opened.upgrade()
    yield opened
    opened.close()


def _probe(endpoint: str, at: datetime, ttft: float = 0.5, ok: bool = True) -> ProbeResult:
    provider = "azure" if endpoint.startswith("azure") else "openai"
    if ok:
        return make_probe(endpoint=endpoint, provider=provider, started_at=at, ttft_seconds=ttft,
                          output_tokens_per_second=100.0)  # fmt: skip
    return bare_probe(endpoint=endpoint, provider=provider, started_at=at,
                      outcome=Outcome.SERVER_ERROR)  # fmt: skip


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _aggregator(config: Config, store: Store, clock: _Clock) -> tuple[Aggregator, list[Snapshot]]:
    published: list[Snapshot] = []
    completed: list[Snapshot] = []
    aggregator = Aggregator(config, store, publish=published.append,
                            on_window_complete=completed.append, clock=clock)  # fmt: skip
    return aggregator, completed


def test_last_complete_window_waits_for_the_settle_time() -> None:
    # The window [12:00, 12:01) is complete at 12:01:07 with 7 s to settle.
    assert last_complete_window(T0 + timedelta(seconds=67), 60, 7.0) == T0
    assert last_complete_window(T0 + timedelta(seconds=66), 60, 7.0) == T0 - timedelta(minutes=1)


def test_backfill_rolls_up_every_window_with_probes(config: Config, store: Store) -> None:
    for minute in (0, 1, 3):  # a gap at minute 2: the daemon was down
        store.add_probes([_probe("openai", T0 + timedelta(minutes=minute, seconds=s))
                          for s in (5, 15, 25)])  # fmt: skip
    clock = _Clock(T0 + timedelta(minutes=10))
    aggregator, _ = _aggregator(config, store, clock)
    aggregator.backfill()
    windows = store.rollup_windows(60, T0, T0 + timedelta(minutes=10))
    assert {T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)} <= windows
    (rollup,) = store.rollups(window_seconds=60, since=T0, until=T0 + timedelta(minutes=1),
                              endpoint="openai")  # fmt: skip
    assert rollup.probes == 3 and rollup.uptime_ratio == 1.0


def test_rolling_up_twice_changes_nothing(config: Config, store: Store) -> None:
    store.add_probes([_probe("openai", T0 + timedelta(seconds=s)) for s in range(0, 60, 10)])
    clock = _Clock(T0 + timedelta(seconds=70))
    aggregator, _ = _aggregator(config, store, clock)
    aggregator.tick()
    first = store.rollups(window_seconds=60, since=T0, until=T0 + timedelta(minutes=1))
    aggregator.tick()
    second = store.rollups(window_seconds=60, since=T0, until=T0 + timedelta(minutes=1))
    assert first == second
    assert [(r.endpoint, r.probes) for r in second] == [("openai", 6)]  # azure: no probe


def test_a_late_probe_is_counted_in_its_own_window_once(config: Config, store: Store) -> None:
    store.add_probes([_probe("openai", T0 + timedelta(seconds=10))])
    clock = _Clock(T0 + timedelta(minutes=5))
    aggregator, _ = _aggregator(config, store, clock)
    aggregator.tick()
    late = _probe("openai", T0 + timedelta(seconds=50), ok=False)
    store.add_probes([late])
    store.add_probes([late])  # written twice (a retried batch): stored once
    aggregator.mark_written([late])
    rolled = aggregator.tick()
    assert T0 in rolled
    (rollup,) = store.rollups(window_seconds=60, since=T0, until=T0 + timedelta(minutes=1),
                              endpoint="openai")  # fmt: skip
    assert rollup.probes == 2 and rollup.outcomes == {"server_error": 1, "success": 1}
    assert rollup.uptime_ratio == 0.5


def test_a_window_is_recomputed_only_when_a_probe_was_written_into_it(
    config: Config, store: Store
) -> None:
    clock = _Clock(T0 + timedelta(seconds=70))
    aggregator, _ = _aggregator(config, store, clock)
    assert aggregator.tick() == [T0]
    clock.now += timedelta(minutes=1)
    # Nothing was written into T0 since it was rolled up: only the newly completed window.
    assert aggregator.tick() == [T0 + timedelta(minutes=1)]
    late = _probe("openai", T0 + timedelta(seconds=30))
    store.add_probes([late])
    aggregator.mark_written([late])
    clock.now += timedelta(minutes=1)
    assert aggregator.tick() == [T0, T0 + timedelta(minutes=2)]
    (rollup,) = store.rollups(window_seconds=60, since=T0, until=T0 + timedelta(minutes=1))
    assert (rollup.endpoint, rollup.probes) == ("openai", 1)


def test_windows_written_while_no_window_job_ran_are_all_rolled_up(
    config: Config, store: Store
) -> None:
    # The job did not run at the ends of the first two windows (a stalled process: APScheduler
    # skips a run more than a window late); the sink noted every window it wrote into.
    clock = _Clock(T0 + timedelta(minutes=3, seconds=7))
    aggregator, _ = _aggregator(config, store, clock)
    for minute in range(3):
        probes = [_probe("openai", T0 + timedelta(minutes=minute, seconds=s)) for s in (5, 35)]
        store.add_probes(probes)
        aggregator.mark_written(probes)
    assert aggregator.tick() == [T0 + timedelta(minutes=m) for m in range(3)]
    stored = store.rollups(window_seconds=60, endpoint="openai")
    counts = [(r.window_start, r.probes) for r in stored]
    assert counts == [(T0 + timedelta(minutes=m), 2) for m in range(3)]


def test_each_completed_window_is_reported_once(config: Config, store: Store) -> None:
    clock = _Clock(T0 + timedelta(seconds=70))
    aggregator, completed = _aggregator(config, store, clock)
    aggregator.tick()
    aggregator.tick()
    clock.now += timedelta(minutes=1)
    aggregator.tick()
    assert len(completed) == 2


def test_snapshot_profile_has_best_ttft_and_active_endpoints(config: Config, store: Store) -> None:
    window = T0
    store.add_probes(
        [_probe("openai", window + timedelta(seconds=s), ttft=0.531) for s in (1, 11, 21)]
        + [_probe("azure-eastus", window + timedelta(seconds=s), ttft=0.8) for s in (2, 12)]
        + [_probe("azure-eastus", window + timedelta(seconds=22), ok=False)]
    )
    now = T0 + timedelta(seconds=70)
    aggregator, _ = _aggregator(config, store, _Clock(now))
    aggregator.tick()
    current = snapshot(config, store, now)
    live = current.profiles["gpt-4.1-nano"]
    assert current.last_window_start == T0
    assert live.best_ttft_seconds == pytest.approx(0.531)
    assert (live.active_endpoints, live.total_endpoints) == (2, 2)
    assert live.avg_uptime_ratio == pytest.approx((1.0 + 2 / 3) / 2)
    assert live.available_via == ("OpenAI", "Azure")
    stored = store.latest_profile("gpt-4.1-nano", 60)
    assert stored is not None and stored["best_ttft_seconds"] == pytest.approx(0.531)


def test_snapshot_of_an_empty_store_has_no_window(config: Config, store: Store) -> None:
    current = snapshot(config, store, T0)
    assert current.last_window_start is None and current.rollups == ()
    live = current.profiles["gpt-4.1-nano"]
    assert live.best_ttft_seconds is None and live.total_endpoints == 2


def test_removed_endpoints_do_not_appear_in_the_snapshot(config: Config, store: Store) -> None:
    store.add_probes([replace(_probe("openai", T0 + timedelta(seconds=5)), endpoint="retired")])
    store.add_probes([_probe("openai", T0 + timedelta(seconds=5))])
    now = T0 + timedelta(seconds=70)
    aggregator, _ = _aggregator(config, store, _Clock(now))
    aggregator.tick()
    assert {r.endpoint for r in snapshot(config, store, now).rollups} == {"openai"}


def test_a_clean_stop_rolls_up_the_cut_short_windows(config: Config, store: Store) -> None:
    # Probes in the last complete window's successors, up to the window still running.
    stamps = [T0 + timedelta(seconds=s) for s in (10, 70, 130, 135)]
    store.add_probes([_probe("openai", at) for at in stamps])
    clock = _Clock(T0 + timedelta(seconds=140))  # inside the window starting at T0 + 120 s
    aggregator, _ = _aggregator(config, store, clock)
    rolled = aggregator.final()
    assert T0 + timedelta(seconds=120) in rolled and T0 + timedelta(seconds=60) in rolled
    counts = {
        r.window_start: r.probes
        for r in store.rollups(window_seconds=60, since=T0, endpoint="openai")
    }
    assert counts[T0 + timedelta(seconds=60)] == 1
    assert counts[T0 + timedelta(seconds=120)] == 2


def test_after_the_clock_jumped_back_the_next_window_is_reported_again(
    config: Config, store: Store
) -> None:
    store.add_probes([_probe("openai", T0 + timedelta(minutes=m, seconds=30)) for m in range(80)])
    clock = _Clock(T0 + timedelta(hours=1, minutes=10))
    aggregator, completed = _aggregator(config, store, clock)
    aggregator.backfill()
    clock.now += timedelta(minutes=1)
    aggregator.tick()
    assert len(completed) == 1
    clock.now -= timedelta(hours=1)  # an NTP step back
    aggregator.tick()
    assert len(completed) == 1  # an older window than the last one reported: not reported...
    aggregator.clock_jumped()
    aggregator.tick()
    assert len(completed) == 2  # ...unless the jump was announced
    assert completed[-1].last_window_start == last_complete_window(clock.now, 60, 7.0)


def test_windows_without_probes_get_no_rollup(config: Config, store: Store) -> None:
    # The monitor starts on an empty store at T0 + 10 min: its start-up recomputes the last two
    # complete windows, which hold no probe.
    clock = _Clock(T0 + timedelta(minutes=10))
    aggregator, _ = _aggregator(config, store, clock)
    aggregator.backfill()
    assert store.rollups(window_seconds=60) == []
    store.add_probes([_probe("openai", clock.now + timedelta(seconds=20))])
    clock.now += timedelta(minutes=1, seconds=30)
    aggregator.tick()
    clock.now += timedelta(seconds=5)
    aggregator.final()

    rollups = store.rollups(window_seconds=60)
    assert [(r.window_start, r.endpoint, r.probes) for r in rollups] == [
        (T0 + timedelta(minutes=10), "openai", 1)
    ]
    current = snapshot(config, store, clock.now)
    azure = next(e for e in current.profiles["gpt-4.1-nano"].endpoints if e.endpoint != "openai")
    assert (azure.probes, azure.status) == (None, "unknown")


def test_recomputing_a_window_whose_probes_are_gone_keeps_its_rollup(
    config: Config, store: Store
) -> None:
    store.add_probes([_probe("openai", T0 + timedelta(seconds=s)) for s in (10, 20)])
    clock = _Clock(T0 + timedelta(seconds=70))
    aggregator, _ = _aggregator(config, store, clock)
    aggregator.tick()
    before = store.rollups(window_seconds=60)

    store.delete_probes_before(T0 + timedelta(minutes=1))  # as retention would
    aggregator.tick()

    assert store.rollups(window_seconds=60) == before
    assert [(r.endpoint, r.probes) for r in before] == [("openai", 2)]


def _published(config: Config, store: Store, now: datetime) -> Snapshot:
    published: list[Snapshot] = []
    Aggregator(config, store, publish=published.append, clock=_Clock(now)).tick()
    (current,) = published
    return current


def test_the_window_job_publishes_what_the_store_holds(config: Config, store: Store) -> None:
    # The window job publishes the rollups it has just written without reading them back: the
    # profiles and rollups it publishes are the ones read from the store, location by location.
    probes = []
    for location, ttft, ok in (("virginia", 0.4, True), ("frankfurt", 0.7, False)):
        for endpoint in ("openai", "azure-eastus"):
            probes += [
                replace(_probe(endpoint, T0 + timedelta(seconds=s), ttft=ttft, ok=ok or s > 20),
                        location=location, agent=f"agent-{location}")
                for s in (3, 13, 23, 33)
            ]  # fmt: skip
    store.add_probes(probes)
    now = T0 + timedelta(seconds=70)
    current = _published(config, store, now)
    read = snapshot(config, store, now, last_window=T0)
    assert current.last_window_start == T0
    assert current.rollups == read.rollups
    assert [r.endpoint for r in current.rollups] == ["azure-eastus", "openai"]
    assert current.profiles == read.profiles
    live = current.profiles["gpt-4.1-nano"]
    assert {loc.location for line in live.endpoints for loc in line.locations} == {
        "virginia",
        "frankfurt",
    }


def test_a_rollup_whose_raw_probes_are_gone_is_still_published(store: Store) -> None:
    # With a raw retention shorter than the window's age, the last window may hold a rollup
    # whose probes were deleted (recomputing writes nothing for it): what the store holds is
    # published, not only what was just recomputed.
    short = parse_config(
        CONFIG.replace("{window: 60s}", "{window: 60s, raw_retention: 30s}"), environ={"K": "k"}
    )
    store.add_probes([_probe(e, T0 + timedelta(seconds=5)) for e in ("openai", "azure-eastus")])
    now = T0 + timedelta(seconds=70)
    first = _published(short, store, now)
    assert {r.endpoint for r in first.rollups} == {"openai", "azure-eastus"}
    store.delete_probes_before(T0 + timedelta(seconds=10))
    store.add_probes([_probe("openai", T0 + timedelta(seconds=15))])
    again = _published(short, store, now + timedelta(seconds=1))
    assert {r.endpoint for r in again.rollups} == {"openai", "azure-eastus"}
    assert again.profiles["gpt-4.1-nano"].active_endpoints == 2


def test_a_window_job_waits_while_a_scrape_is_written(config: Config, store: Store) -> None:
    # The daemon's window job pauses between its steps while /metrics is being written, so
    # that a scrape does not share the interpreter with it: here the job is held at its first
    # pause until the scrape's chunks are all made, then publishes.
    registry = MetricsRegistry()
    family = CounterFamily(Spec("t_probes", "Probes.", "counter", ("endpoint",)))
    registry.register(family)
    for n in range(20_000):
        family.labels(f"endpoint-{n}").inc()
    store.add_probes([_probe("openai", T0 + timedelta(seconds=5))])
    waiting, published = threading.Event(), list[Snapshot]()

    def pause() -> bool:
        waiting.set()
        return registry.wait_quiet(30.0)

    aggregator = Aggregator(config, store, publish=published.append,
                            clock=_Clock(T0 + timedelta(seconds=70)), pause=pause)  # fmt: skip
    chunks = registry.chunks(openmetrics=False)
    assert chunks is not None
    first = next(chunks)  # a scrape has begun
    job = threading.Thread(target=aggregator.tick)
    job.start()
    assert waiting.wait(10.0)
    job.join(0.5)
    assert job.is_alive() and published == []
    rest = b"".join(chunks)  # the scrape ends
    job.join(10.0)
    assert not job.is_alive() and len(published) == 1
    assert (first + rest).count(b"\n") > 20_000
    assert registry.wait_quiet(0.0)


def test_a_scrape_given_up_midway_does_not_hold_the_window_job(config: Config) -> None:
    registry = MetricsRegistry()
    family = CounterFamily(Spec("t_probes", "Probes.", "counter", ("endpoint",)))
    registry.register(family)
    for n in range(20_000):
        family.labels(f"endpoint-{n}").inc()
    chunks = registry.chunks(openmetrics=True)
    assert isinstance(chunks, Generator)
    next(chunks)
    assert not registry.wait_quiet(0.05)
    chunks.close()  # the scraper went away
    assert registry.wait_quiet(0.0)
