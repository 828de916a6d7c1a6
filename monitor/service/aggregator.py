"""Rollups and profiles from the store: the window job of the daemon, and ``snapshot()`` for the
commands that read the store directly (``report``, ``profile``).

Every window is recomputed from raw probes and upserted, so the job is idempotent: it recomputes
the last complete window on every run, every window into which a probe was written since it was
last rolled up (the sink tells the job which: a probe that finished late lands in an earlier
window, which is then recomputed), and at start-up the last two complete windows and every
window that has raw probes but no rollup. A window is complete once its end plus ``settle``
seconds (the longest probe timeout and the sink's flush delay) has passed, so probes still in
flight at the boundary are counted.

A rollup exists only for an (endpoint, window) with at least one stored probe: a window before
the monitor started, while it was stopped, or before the endpoint was configured has no rollup,
and readers say "no data" for it rather than "0 probes". Recomputing a window in which an
endpoint has no stored probe writes nothing for it, so a rollup whose raw probes are gone
(``rollup.raw_retention`` deleted them) keeps what it summarised instead of being overwritten
with an empty one: rollups are the record that outlives raw probes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Config
from monitor.core.profile import ModelLive, UptimeCounts, kind_lives, model_live
from monitor.core.quorum import parse_quorum
from monitor.core.result import ProbeResult
from monitor.core.rollup import (
    EndpointIdentity,
    EndpointRollup,
    rollups_by_location,
    window_start,
    windows_between,
)
from monitor.service.shapes import ModelProfile
from monitor.store import Store


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest complete window's rollups and every model's live profile."""

    window_seconds: int
    last_window_start: datetime | None
    rollups: tuple[EndpointRollup, ...]
    profiles: Mapping[str, ModelLive]
    refreshed_at: datetime


def window_seconds(config: Config) -> int:
    """The configured rollup window in whole seconds."""
    return int(config.schema.rollup.window)


def settle_seconds(config: Config, flush_seconds: float = 1.0) -> float:
    """How long after a window's end its last probes may still be arriving."""
    timeouts = [e.probe.timeout for e in config.endpoints] or [config.schema.probe.timeout]
    return max(timeouts) + flush_seconds + 1.0


def last_complete_window(now: datetime, window: int, settle: float) -> datetime:
    """Start of the newest window whose end is at least ``settle`` seconds before ``now``."""
    return window_start(now - timedelta(seconds=settle), window) - timedelta(seconds=window)


@dataclass(frozen=True, slots=True)
class Rolled:
    """One window's rollups as the window job computed and wrote them: one per endpoint
    across locations and one per (endpoint, location), each of at least one probe."""

    start: datetime
    across: tuple[EndpointRollup, ...]
    located: tuple[EndpointRollup, ...]


def roll_window(
    config: Config, store: Store, start: datetime, now: datetime
) -> list[EndpointRollup]:
    """Recompute and upsert the rollups of one window: one for each configured endpoint with
    a stored probe in it (an endpoint without one has no data in that window, not 0 probes),
    across locations, and one per location beside it; return those across locations."""
    return list(roll(config, store, start, now).across)


#: Endpoints summarised between two calls of ``roll``'s ``pause``.
PAUSE_EVERY = 1000


def roll(
    config: Config,
    store: Store,
    start: datetime,
    now: datetime,
    pause: Callable[[], object] = lambda: None,
) -> Rolled:
    """``roll_window``, returning every rollup it wrote; ``pause`` is called every
    ``PAUSE_EVERY`` endpoints (outside any transaction)."""
    window = window_seconds(config)
    settings = config.schema.rollup
    quorum = parse_quorum(settings.quorum)
    rollups: list[EndpointRollup] = []
    located: list[EndpointRollup] = []
    # A window of 1,000 endpoints probed from 3 locations is 90,000 rows: twice as many
    # short-lived tuples, none in a reference cycle. Left running, the cyclic collector would
    # scan the whole heap several times meanwhile (a sixth of the rollup's time, and a pause
    # of every thread, the probing loop's included): it waits until the rows are summarised.
    with collector_paused():
        rows = store.probe_rows(start, start + timedelta(seconds=window))
        for index, e in enumerate(config.endpoints):
            if index % PAUSE_EVERY == PAUSE_EVERY - 1:
                pause()
            if not rows.get(e.id):
                continue
            across, per_location = rollups_by_location(
                EndpointIdentity(e.id, e.model.id, e.provider, e.region),
                rows[e.id],
                start,
                window,
                slot_seconds=e.probe.interval,
                quorum=quorum,
                rate_limited_is_down=settings.rate_limited_is_down,
                now=now,
            )
            rollups.append(across)
            located += per_location
        del rows
    store.upsert_rollups(rollups + located)
    # Every one is of at least one probe (an endpoint without rows was skipped above), so it
    # is also what the store kept: no filter of its own beside the store's.
    return Rolled(start, tuple(rollups), tuple(located))


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector for the block (reference counting still
    frees everything without a cycle at once); it runs again afterwards if it was enabled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def snapshot(
    config: Config,
    store: Store,
    now: datetime,
    *,
    last_window: datetime | None = None,
    last_probe_at: Mapping[str, datetime] | None = None,
    rolled: Rolled | None = None,
    pause: Callable[[], object] = lambda: None,
) -> Snapshot:
    """Profiles and last-window rollups from stored rollups (nothing is written).

    ``rolled``: the last window's rollups as the caller has just written them (the window
    job's); they are used instead of reading them back when they are all the store holds for
    that window, that is when none of the window's raw probes can have been deleted yet.
    ``pause`` is called between reading the store and computing the profiles."""
    window = window_seconds(config)
    if last_window is None:
        last_window = last_complete_window(now, window, settle_seconds(config))
    window_end = last_window + timedelta(seconds=window)
    uptime_since = window_end - timedelta(seconds=config.schema.profile.uptime_window)
    # Whole rollups of the last window only; the uptime needs just the outcome counts over the
    # uptime window, summed by the store.
    since = last_window_since(last_window, uptime_since)
    rollups: Sequence[EndpointRollup]
    located: Sequence[EndpointRollup]
    if rolled is not None and written_whole(config, rolled, last_window, now):
        # At 5,000 endpoints, reading them back was a third of the window job.
        rollups = rolled.across if since == last_window else ()
        located = rolled.located
    else:
        rollups = store.rollups(window_seconds=window, since=since, until=window_end)
        located = store.location_rollups(window_seconds=window, since=last_window, until=window_end)
    counts = store.uptime_counts(window_seconds=window, since=uptime_since, until=window_end)
    configured = {e.id for e in config.endpoints}
    # By endpoint as Python orders them, whichever path and store collation gave them.
    last = tuple(
        sorted(
            (r for r in rollups if r.window_start == last_window and r.endpoint in configured),
            key=_by_endpoint,
        )
    )
    if last_probe_at is None:
        last_probe_at = store.last_probe_times()
    pause()
    rate_limited_is_down = config.schema.rollup.rate_limited_is_down
    profiles = {
        model.id: model_live(
            model,
            config.endpoints,
            rollups,
            last_window_start=last_window if last else None,
            uptime_since=uptime_since,
            refreshed_at=now,
            last_probe_at=last_probe_at,
            rate_limited_is_down=rate_limited_is_down,
            uptime=counts.get(model.id, UptimeCounts()),
            location_rollups=located,
        )
        for model in config.models
    }
    profiles = with_kinds(config, store, profiles, last_window, window_end)
    return Snapshot(
        window_seconds=window,
        last_window_start=last_window if last else None,
        rollups=last,
        profiles=profiles,
        refreshed_at=now,
    )


def written_whole(config: Config, rolled: Rolled, last_window: datetime, now: datetime) -> bool:
    """Whether ``rolled`` is the whole of what the store holds for ``last_window``: it is that
    window's, and raw retention has deleted none of its probes (a recomputation without an
    endpoint's raw probes keeps the rollup stored before, which ``rolled`` lacks)."""
    retention = timedelta(seconds=config.schema.rollup.raw_retention)
    return rolled.start == last_window and last_window >= now - retention


def _by_endpoint(rollup: EndpointRollup) -> str:
    return rollup.endpoint


def with_kinds(
    config: Config,
    store: Store,
    profiles: Mapping[str, ModelLive],
    since: datetime,
    until: datetime,
) -> dict[str, ModelLive]:
    """``profiles`` with each model's probe kinds over [since, until) (docs/design.md#probe-
    kinds), read from the store only when some endpoint has kinds."""
    sizes: dict[str, dict[str, int]] = {}
    for e in config.endpoints:
        for k in e.kinds:
            sizes.setdefault(e.model.id, {}).setdefault(k.name, k.input_tokens)
    if not sizes:
        return dict(profiles)
    rows = store.kind_rows(since, until)
    return {
        model: replace(live, kinds=kind_lives(live, sizes.get(model, {}), rows))
        for model, live in profiles.items()
    }


def last_window_since(last_window: datetime, uptime_since: datetime) -> datetime:
    """Where the whole rollups a profile card needs start: the last window, unless the uptime
    window is shorter than a rollup window and starts after it (then there are none)."""
    return max(last_window, uptime_since)


@dataclass
class Aggregator:
    """The daemon's window job: rolls up, refreshes profiles, publishes and reports."""

    config: Config
    store: Store
    publish: Callable[[Snapshot], None]
    on_window_complete: Callable[[Snapshot], None] = lambda snapshot: None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    last_probe_at: Callable[[], Mapping[str, datetime]] | None = None
    #: Called between the steps of a window job (between windows, every ``PAUSE_EVERY``
    #: endpoints, before and after reading what the profiles need, and before publishing):
    #: the daemon waits there while a scrape is being written, so that the two do not share
    #: the interpreter lock.
    pause: Callable[[], object] = lambda: None
    _dirty: set[datetime] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reported: datetime | None = None
    latest: Snapshot | None = None

    @property
    def window(self) -> int:
        """The rollup window in seconds."""
        return window_seconds(self.config)

    def mark_written(self, results: Iterable[ProbeResult]) -> None:
        """Note the windows that newly stored probes belong to (called by the sink)."""
        windows = {window_start(r.started_at, self.window) for r in results}
        with self._lock:
            self._dirty |= windows

    def backfill(self) -> list[datetime]:
        """Roll up every window with raw probes but no rollup, plus the last two; return them."""
        now = self.clock()
        last = last_complete_window(now, self.window, settle_seconds(self.config))
        end = last + timedelta(seconds=self.window)
        horizon = end - timedelta(seconds=self.config.schema.rollup.raw_retention)
        missing = self.store.probe_windows(horizon, end, self.window) - self.store.rollup_windows(
            self.window, horizon, end
        )
        marks = self.store.dirty_windows(self.window, until=end)
        windows = sorted(missing | set(marks) | {last, last - timedelta(seconds=self.window)})
        rolled = self._roll(windows, now, last)
        self.store.clear_dirty_windows(self.window, marks)
        self._refresh(now, last, rolled)
        self._reported = last
        return windows

    def tick(self) -> list[datetime]:
        """Recompute what may have changed, publish the snapshot, report a newly completed
        window; return the windows rolled up."""
        now = self.clock()
        last = last_complete_window(now, self.window, settle_seconds(self.config))
        marks = self.store.dirty_windows(self.window, until=last + timedelta(seconds=self.window))
        with self._lock:
            dirty = {w for w in self._dirty if w <= last}
            self._dirty -= dirty
        # The window before ``last`` was ``last`` at the previous run; a probe written into it
        # since is in ``dirty`` (or, from another agent, in ``marks``). Recomputing it anyway
        # doubled the job's work (at 5,000 endpoints, 10,000 more rollups to write).
        windows = sorted(dirty | set(marks) | {last})
        try:
            rolled = self._roll(windows, now, last)
        except BaseException:
            with self._lock:
                self._dirty |= set(windows)
            raise
        self.store.clear_dirty_windows(self.window, marks)
        current = self._refresh(now, last, rolled)
        if self._reported is None or last > self._reported:
            self._reported = last
            self.on_window_complete(current)
        return windows

    def refresh(self) -> Snapshot:
        """Publish what the store holds without rolling anything up: the window job of an
        agent that does not hold the rollup lease (another agent rolls up)."""
        now = self.clock()
        return self._refresh(
            now, last_complete_window(now, self.window, settle_seconds(self.config))
        )

    def clock_jumped(self) -> None:
        """The wall clock jumped: forget which window was reported last, so the next complete
        window is reported even when it is older than that one (after a jump back)."""
        with self._lock:
            self._reported = None

    def final(self) -> list[datetime]:
        """At shutdown, once every probe is written: roll up every window not yet rolled since
        the last complete one, the current (cut-short) window included, so a clean stop leaves
        no window with probes but without a rollup. A restart recomputes the windows that get
        more probes."""
        now = self.clock()
        last = last_complete_window(now, self.window, settle_seconds(self.config))
        current = window_start(now, self.window)
        marks = self.store.dirty_windows(self.window)
        with self._lock:
            dirty = set(self._dirty)
            self._dirty.clear()
        windows = sorted(
            dirty | set(marks) | set(windows_between(last, current, self.window)) | {current}
        )
        for start in windows:
            roll_window(self.config, self.store, start, now)
        self.store.clear_dirty_windows(self.window, marks)
        return windows

    def _roll(self, windows: Iterable[datetime], now: datetime, last: datetime) -> Rolled | None:
        """Roll up ``windows`` in order; what was written for ``last``, if it was rolled."""
        kept = None
        for start in windows:
            self.pause()
            rolled = roll(self.config, self.store, start, now, self.pause)
            if start == last:
                kept = rolled
            del rolled  # one window's rollups held at a time, besides the last one's
        return kept

    def _refresh(self, now: datetime, last: datetime, rolled: Rolled | None = None) -> Snapshot:
        self.pause()
        probes_at = self.last_probe_at() if self.last_probe_at is not None else None
        current = snapshot(
            self.config,
            self.store,
            now,
            last_window=last,
            last_probe_at=probes_at,
            rolled=rolled,
            pause=self.pause,
        )
        for model_id, live in current.profiles.items():
            if live.window_start is not None:
                self.store.upsert_profile(
                    model_id, self.window, live.window_start, now, live.to_json_dict()
                )
        self.latest = current
        self.pause()
        self.publish(current)
        return current


def profile_document(config: Config, live: ModelLive) -> ModelProfile:
    """The profile document of a configured model: its facts plus ``live``."""
    spec = config.model(live.model)
    if spec is None:
        raise ValueError(f"{live.model!r} is not a configured model")
    return ModelProfile.of(spec, live, window_seconds(config))


def profile_json(config: Config, live: ModelLive) -> dict[str, Any]:
    """The profile document as JSON-ready data."""
    return profile_document(config, live).to_json_dict()
