"""Scheduled probing on a dedicated thread whose event loop does nothing but measure.

The measuring loop runs APScheduler's ``AsyncIOScheduler`` with one interval job per endpoint
and the probes themselves; every other piece of the daemon (HTTP server, store writes, rollups,
reports, logs and metrics) runs on other threads and receives results through ``on_result``,
which must only hand the result over (e.g. put it on a queue). The loop's own lag is measured
continuously, because a late loop means late timestamps.

Timing rules:

- first runs are spread evenly across each interval (no thundering herd at start-up);
- jitter is a random delay in ``[0, jitter)`` applied inside each run, so the grid of planned
  times never drifts (APScheduler 3 would add its jitter to the next run's base time);
- one probe per endpoint at a time (``max_instances=1``); runs that are late are coalesced into
  one, and every run that did not happen is counted through ``on_missed``;
- after a 429 that says how long to wait (``retry-after-ms``, ``retry-after``, "try again in
  1.2s" in its message, or ``x-ratelimit-reset-*``; see ``classify.parse_retry_after``), the
  endpoint's runs before the wait is over (at most an hour) are skipped, reason
  ``retry_after``; after a 429 that does not (a gateway dropped the headers), the next 1, 2,
  4, ... runs are skipped for the 1st, 2nd, 3rd, ... 429 in a row, never more runs than fit in
  ``BACKOFF_MAX_SECONDS`` (but at least one), reason ``backoff``; any answer but a 429 ends the
  streak. Skipped runs are reported through ``on_skipped``: they are not probes, so they count
  neither for nor against uptime;
- a jump of the wall clock (which APScheduler plans on) reschedules every job; probe durations
  never depend on it, since they use the monotonic clock.

Every clock the scheduler reads itself is injectable (``wall_clock``, ``monotonic``, and the
measuring loop through ``loop_factory``), so tests can run it on virtual time; APScheduler
reads ``datetime.now`` and the loop's own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Endpoint
from monitor.core.agent import AgentIdentity
from monitor.core.outcomes import Outcome, SkipReason
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner

#: How often the loop's lag is sampled, and over how long the reported maximum is taken.
LAG_TICK_SECONDS = 0.25
LAG_SPAN_SECONDS = 10.0
#: A change of the wall clock against the monotonic clock larger than this is a jump.
WALL_CLOCK_JUMP_SECONDS = 2.0
#: The GIL switch interval of a process whose measuring loop runs beside other threads. When
#: the loop's socket becomes readable while another thread holds the GIL, it waits up to this
#: long before it can stamp the bytes; Python's default is 5 ms.
SWITCH_INTERVAL_SECONDS = 0.0005
#: The longest retry-after honoured; a larger value could silence an endpoint for days.
MAX_RETRY_AFTER_SECONDS = 3600.0
#: The longest exponential back-off after 429s that named no wait. OpenAI's and Azure's limits
#: are mostly per minute, so a few minutes usually see them through; a daily limit is then
#: checked every 10 minutes, which costs nothing (a 429 uses no tokens) and keeps the gap in
#: the endpoint's data bounded whatever its interval (16 intervals would be 16 min at 60 s).
BACKOFF_MAX_SECONDS = 600.0

log = structlog.get_logger("llm_monitor.scheduler")


@dataclass(frozen=True, slots=True)
class _Plan:
    endpoint: Endpoint
    first_run: datetime


def cancelled_result(
    endpoint: Endpoint,
    started_at: datetime,
    duration_seconds: float | None = None,
    agent: AgentIdentity | None = None,
) -> ProbeResult:
    """The record of a probe cut short by shutdown (after ``duration_seconds``, if known), made
    by ``agent``."""
    return ProbeResult(
        probe_id=uuid.uuid4().hex,
        endpoint=endpoint.id,
        provider=endpoint.provider,
        model=endpoint.model.id,
        api=endpoint.api,
        region=endpoint.region,
        outcome=Outcome.CANCELLED,
        started_at=started_at,
        error="cancelled by shutdown before the probe finished",
        duration_seconds=duration_seconds,
        agent=agent.name if agent else None,
        location=agent.location if agent else None,
        kind=endpoint.kind,
    )


def backoff_runs(consecutive_429s: int, interval: float) -> int:
    """How many of its next runs an endpoint skips after its ``consecutive_429s``-th 429 in a row
    that named no wait: 1, 2, 4, ..., at most what fits in BACKOFF_MAX_SECONDS, at least 1."""
    cap = max(1, int(BACKOFF_MAX_SECONDS // interval))
    return min(1 << min(max(consecutive_429s, 1) - 1, 30), cap)


class WallClockWatch:
    """The wall clock's offset from the monotonic clock, as it was at the last jump (or at the
    start): ``jump()`` is by how much it has moved since, once that is more than
    ``WALL_CLOCK_JUMP_SECONDS`` (the new offset is then the reference), else 0."""

    def __init__(self, wall_clock: Callable[[], float], monotonic: Callable[[], float]) -> None:
        self._wall_clock, self._monotonic = wall_clock, monotonic
        self._offset = wall_clock() - monotonic()

    def jump(self) -> float:
        """The jump seen at this look, in seconds (0.0: none)."""
        current = self._wall_clock() - self._monotonic()
        moved = current - self._offset
        if abs(moved) <= WALL_CLOCK_JUMP_SECONDS:
            return 0.0
        self._offset = current
        return moved


class ProbeScheduler:
    """Probes endpoints on their intervals from a thread of its own."""

    def __init__(
        self,
        runner_factory: Callable[[], ProbeRunner],
        on_result: Callable[[ProbeResult], None],
        *,
        on_missed: Callable[[str, int], None] = lambda endpoint, count: None,
        on_lag: Callable[[float], None] = lambda seconds: None,
        on_delay: Callable[[str, float], None] = lambda endpoint, seconds: None,
        on_skipped: Callable[[str, str], None] = lambda endpoint, reason: None,
        on_clock_jump: Callable[[float], None] = lambda seconds: None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    ) -> None:
        self._runner_factory = runner_factory
        self._on_result = on_result
        self._on_missed = on_missed
        self._on_lag = on_lag
        self._on_delay = on_delay
        self._on_skipped = on_skipped
        self._on_clock_jump = on_clock_jump
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._loop_factory = loop_factory
        self._rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._runner: ProbeRunner | None = None
        self._plans: dict[str, _Plan] = {}
        # Per job: the last submitted run time (wall clock) and when it was submitted (monotonic).
        self._last_submitted: dict[str, tuple[datetime, float]] = {}
        self._in_flight: dict[asyncio.Task[Any], tuple[Endpoint, datetime]] = {}
        self._lag_task: asyncio.Task[None] | None = None
        self._waiting: set[asyncio.Task[Any]] = set()
        # Per endpoint: no probe before this monotonic time, and why; and its 429s in a row.
        self._not_before: dict[str, tuple[float, SkipReason]] = {}
        self._limited_in_a_row: dict[str, int] = {}
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._stopped = threading.Event()

    # --- life cycle (called from other threads) ----------------------------------------------

    def start(self, endpoints: Sequence[Endpoint]) -> None:
        """Start the measuring thread and schedule every endpoint."""
        if self._thread is not None:
            raise RuntimeError("the scheduler is already running")
        self._thread = threading.Thread(target=self._main, name="llm-monitor-probes", daemon=True)
        self._thread.start()
        self._ready.wait()
        self._call(self._set_endpoints(tuple(endpoints))).result()

    @property
    def running(self) -> bool:
        """Whether the measuring loop is up and scheduling."""
        return self._ready.is_set() and not self._stopped.is_set()

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """Replace the set of scheduled endpoints (added, removed or changed)."""
        self._call(self._set_endpoints(tuple(endpoints))).result()

    def stop(self, grace_seconds: float) -> None:
        """Stop scheduling, let probes in flight finish within ``grace_seconds``, then cancel."""
        if self._loop is None or self._stopped.is_set():
            return
        with contextlib.suppress(RuntimeError):
            self._call(self._shutdown(grace_seconds)).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join()
        self._stopped.set()

    def _call(self, coroutine: Any) -> Future[Any]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _main(self) -> None:
        loop = self._loop_factory()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._begin())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # --- on the measuring loop ----------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall_clock(), UTC)

    async def _begin(self) -> None:
        self._runner = self._runner_factory()
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_SUBMITTED
        )
        scheduler.start()
        self._scheduler = scheduler
        self._lag_task = asyncio.create_task(self._watch_lag())

    async def _set_endpoints(self, endpoints: tuple[Endpoint, ...]) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        wanted = {e.key: e for e in endpoints}
        for key in list(self._plans):
            if key not in wanted or wanted[key] != self._plans[key].endpoint:
                scheduler.remove_job(key)
                del self._plans[key]
                self._last_submitted.pop(key, None)
                if key not in wanted:  # a changed endpoint still owes the waits
                    self._not_before.pop(key, None)
                    self._limited_in_a_row.pop(key, None)
        now = self._now()
        new = [e for e in endpoints if e.key not in self._plans]
        for index, endpoint in enumerate(new):
            interval = endpoint.probe.interval
            # Spread first runs evenly over the interval; 1 s of slack lets start-up finish.
            first = now + timedelta(seconds=1 + interval * index / max(len(new), 1))
            self._plans[endpoint.key] = _Plan(endpoint, first)
            scheduler.add_job(
                self._probe,
                IntervalTrigger(seconds=interval, start_date=first, timezone=UTC),
                args=(endpoint.key,),
                id=endpoint.key,
                name=f"probe {endpoint.key}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval / 2)),
                next_run_time=first,
            )

    async def _probe(self, key: str) -> None:
        """One run of a probe target (``Endpoint.key``: an endpoint, or one of its kinds)."""
        plan = self._plans.get(key)
        runner = self._runner
        if plan is None or runner is None or self._stopping.is_set():
            return
        endpoint = plan.endpoint
        entered_monotonic = self._monotonic()
        waiting = self._not_before.get(key)
        if waiting is not None:
            not_before, reason = waiting
            if entered_monotonic < not_before:
                # Rate limited (the provider's wait, or our back-off): this slot is skipped,
                # not probed; it counts neither for nor against uptime.
                self._on_skipped(endpoint.id, reason)
                return
            del self._not_before[key]
        entered = self._now()
        self._on_delay(endpoint.id, (entered - self._planned_time(plan, entered)).total_seconds())
        task = asyncio.current_task()
        assert task is not None
        if endpoint.probe.jitter > 0:
            self._waiting.add(task)
            try:
                await asyncio.sleep(self._rng.uniform(0, endpoint.probe.jitter))
            except asyncio.CancelledError:
                return  # shutting down before this run started: nothing to record
            finally:
                self._waiting.discard(task)
        if self._stopping.is_set():
            return
        started = self._now()
        began = self._monotonic()
        self._in_flight[task] = (endpoint, started)
        try:
            result = await runner.probe(endpoint)
        except asyncio.CancelledError:
            # Cut short by shutdown: record it, and end the job quietly (the task is ending).
            result = cancelled_result(
                endpoint, started, self._monotonic() - began, getattr(runner, "agent", None)
            )
        finally:
            self._in_flight.pop(task, None)
        self._hold_off(endpoint, result, entered_monotonic)
        self._on_result(result)

    def _hold_off(self, endpoint: Endpoint, result: ProbeResult, entered: float) -> None:
        """After a 429, plan the endpoint's wait: the provider's, or the exponential back-off."""
        key = endpoint.key
        if result.outcome is not Outcome.RATE_LIMITED:
            self._limited_in_a_row.pop(key, None)
            return
        in_a_row = self._limited_in_a_row.get(key, 0) + 1
        self._limited_in_a_row[key] = in_a_row
        if result.retry_after_seconds is not None:
            wait = min(result.retry_after_seconds, MAX_RETRY_AFTER_SECONDS)
            if wait > 0:
                not_before = self._monotonic() + wait
                self._not_before[key] = (not_before, SkipReason.RETRY_AFTER)
            return
        # Counted in runs from this run's start: the next `runs` runs fall before the end, the
        # one after them after it, with half an interval of slack either way for late runs.
        interval = endpoint.probe.interval
        runs = backoff_runs(in_a_row, interval)
        self._not_before[key] = (entered + (runs + 0.5) * interval, SkipReason.BACKOFF)

    def _planned_time(self, plan: _Plan, now: datetime) -> datetime:
        """The planned run this one stands for: the latest grid time not after ``now``."""
        interval = plan.endpoint.probe.interval
        # A millisecond of slack: a run started a hair before its grid time is that run.
        runs = max(math.floor((now - plan.first_run).total_seconds() / interval + 1e-3), 0)
        return plan.first_run + timedelta(seconds=runs * interval)

    def _on_event(self, event: JobSubmissionEvent | JobExecutionEvent) -> None:
        plan = self._plans.get(event.job_id)
        if plan is None:
            return
        run_times = getattr(event, "scheduled_run_times", None) or []
        single = getattr(event, "scheduled_run_time", None)
        if single is not None and not run_times:
            run_times = [single]
        previous = self._last_submitted.get(event.job_id)
        now = self._monotonic()
        if run_times:
            # Every run accounted for, submitted or not: a gap is counted from the last of them.
            self._last_submitted[event.job_id] = (run_times[-1], now)
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            self._on_missed(plan.endpoint.id, 1)
            return
        # Submitted: planned runs between the previous accounted run and this one were coalesced.
        if not run_times:
            return
        if previous is not None:
            interval = plan.endpoint.probe.interval
            planned = round((run_times[-1] - previous[0]).total_seconds() / interval) - 1
            # A jump of the wall clock moves the planned run times without any run being
            # missed: never count more runs than fit in the time that really passed.
            elapsed = round((now - previous[1]) / interval) - 1
            skipped = min(planned, elapsed)
            if skipped > 0:
                self._on_missed(plan.endpoint.id, skipped)

    async def _watch_lag(self) -> None:
        samples: deque[float] = deque(maxlen=int(LAG_SPAN_SECONDS / LAG_TICK_SECONDS))
        clock = WallClockWatch(self._wall_clock, self._monotonic)
        while True:
            before = self._monotonic()
            await asyncio.sleep(LAG_TICK_SECONDS)
            samples.append(max(self._monotonic() - before - LAG_TICK_SECONDS, 0.0))
            self._on_lag(max(samples))
            # APScheduler plans runs on the wall clock: after a jump (NTP step, VM resume,
            # manual change) its waits are wrong by the jump, so every job is planned anew.
            jump = clock.jump()
            if jump:
                log.warning("wall clock jumped; rescheduling", seconds=round(jump, 3))
                await self._reschedule_all()
                self._on_clock_jump(jump)

    async def _reschedule_all(self) -> None:
        endpoints = tuple(plan.endpoint for plan in self._plans.values())
        scheduler = self._scheduler
        if scheduler is None:
            return
        for key in list(self._plans):
            scheduler.remove_job(key)
        self._plans.clear()
        self._last_submitted.clear()
        await self._set_endpoints(endpoints)

    async def _shutdown(self, grace_seconds: float) -> None:
        self._stopping.set()
        # Pause first: shutting APScheduler's executor down would cancel running probes at once.
        if self._scheduler is not None:
            self._scheduler.pause()
        if self._lag_task is not None:
            self._lag_task.cancel()
        # Runs still waiting out their jitter never started a probe: they just end.
        for task in list(self._waiting):
            task.cancel()
        tasks = list(self._in_flight)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        others = [
            t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()
        ]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self._runner is not None:
            await self._runner.aclose()
