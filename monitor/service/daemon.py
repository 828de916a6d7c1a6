"""The daemon: scheduled probes, durable storage, window rollups and metrics (its HTTP server and
the ``run`` command around it are in ``monitor.api.server``).

Threads and what runs on them (docs/architecture.md#processes-and-threads-of-the-daemon):

- ``llm-monitor-probes``: the measuring event loop (APScheduler's AsyncIOScheduler and the probes,
  nothing else), see ``monitor.service.scheduler``; with ``measuring_process`` (``llm-monitor
  run``) it runs in a process of its own (``monitor.service.measuring``), and here
  ``llm-monitor-measuring`` takes its results and ``llm-monitor-clock`` watches for wall-clock
  jumps;
- ``llm-monitor-sink``: each result's log line, metrics and batched store writes;
- APScheduler's ``BackgroundScheduler`` pool: the window job (rollups, profiles, reports), the
  incident job, the retention and budget jobs, the heartbeat and the store health check;
- the main thread: the HTTP server (uvicorn) and signal handling.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config, Endpoint
from monitor.core.errors import StoreError
from monitor.core.kinds import DEFAULT_KIND
from monitor.core.result import ProbeResult
from monitor.core.rollup import window_start
from monitor.core.spend import BudgetState, budget_stretch
from monitor.metrics import LiveCollector, LiveState, MetricsRegistry, ProbeMetrics
from monitor.probing.runner import ProbeRunner
from monitor.service.aggregator import Aggregator, Snapshot, settle_seconds
from monitor.service.incidents import IncidentJob, check_seconds
from monitor.service.measuring import MeasuringProcess
from monitor.service.membership import Membership
from monitor.service.memory import give_back
from monitor.service.scheduler import SWITCH_INTERVAL_SECONDS, ProbeScheduler, WallClockWatch
from monitor.service.sinks import ResultSink
from monitor.store import Store, open_store
from monitor.store.single import AgentLock, hold_sqlite_store

#: How often the store's reachability is checked for /readyz.
STORE_CHECK_SECONDS = 10.0
#: How often probes older than ``rollup.raw_retention`` are deleted.
RETENTION_SECONDS = 3600.0
#: How often the probes' spend of the last 24 h is compared with ``probe.budget_usd_per_day``.
BUDGET_CHECK_SECONDS = 300.0
#: How long the window job waits at each of its pauses for a scrape being written to finish
#: (a job of 5,000 endpoints pauses 14 times; a scrape of them takes about 0.3 s).
SCRAPE_WAIT_SECONDS = 1.0

log = structlog.get_logger("llm_monitor")


class Daemon:
    """Everything but the HTTP server; also the ``MonitorView`` the server reads."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        runner_factory: Callable[[], ProbeRunner] | None = None,
        report_writer: Callable[[Snapshot], None] | None = None,
        measuring_process: bool = False,
    ) -> None:
        """``measuring_process``: probe from a child process of its own (``llm-monitor run``,
        monitor.service.measuring) instead of a thread of this one; ``runner_factory`` is then
        not used."""
        self._config = config
        self._clock = clock
        self._registry = MetricsRegistry()
        self.metrics = ProbeMetrics(
            self._registry, agent=config.agent.name, location=config.agent.location
        )
        self._collector = LiveCollector()
        self._registry.register(self._collector)
        self._store = store or open_store(config.schema.storage.url)
        self._last: dict[str, ProbeResult] = {}
        self._last_lock = threading.Lock()
        self._store_problem: str | None = None
        self.aggregator = Aggregator(
            config,
            self._store,
            publish=self._publish,
            on_window_complete=report_writer or (lambda snapshot: None),
            clock=clock,
            last_probe_at=self._last_probe_at,
            pause=self._wait_for_scrape,
        )
        self.sink = ResultSink(
            self._store,
            self.metrics,
            on_written=self._written,
            on_result=self._remember,
        )
        events: dict[str, Any] = {
            "on_missed": lambda endpoint, count: self.metrics.missed_runs.labels(endpoint).inc(
                count
            ),
            "on_lag": self.metrics.loop_lag.set,
            "on_skipped": lambda endpoint, why: self.metrics.skipped.labels(endpoint, why).inc(),
            "on_delay": lambda endpoint, seconds: self.metrics.scheduling_delay.observe(seconds),
            "on_clock_jump": self._clock_jumped,
        }
        self.scheduler: ProbeScheduler | MeasuringProcess
        #: Set to stop the clock watch of a daemon with a measuring process.
        self._clock_watch = threading.Event()
        if measuring_process:
            # The measuring process replans its probes after a wall-clock jump; this process
            # watches its own clock for its own jobs (see _watch_clock).
            events["on_clock_jump"] = lambda seconds: None
            logging = config.schema.logging
            self.scheduler = MeasuringProcess(
                config.agent,
                self.sink.submit,
                log_level=logging.level,
                log_format=logging.format,
                **events,
            )
        else:
            self.scheduler = ProbeScheduler(
                runner_factory or (lambda: ProbeRunner(agent=config.agent)),
                self.sink.submit,
                **events,
            )
        self.incidents = IncidentJob(config, self._store, settle_seconds(config), clock)
        self._snapshot: Snapshot | None = None
        self._published: LiveState | None = None
        self._publish_lock = threading.Lock()
        self._maintenance = BackgroundScheduler(timezone=UTC)
        self.membership = Membership(config, self._store)
        self._share: set[str] = {e.id for e in config.endpoints}
        #: How many times longer than configured the intervals are (the probe budget's doing).
        self._stretch = 1.0
        self._budget: BudgetState | None = None
        self._agent_lock: AgentLock | None = None
        self._started = False

    # --- MonitorView --------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self._config

    @property
    def store(self) -> Store:
        """The store."""
        return self._store

    @property
    def registry(self) -> MetricsRegistry:
        """The Prometheus registry."""
        return self._registry

    def snapshot(self) -> Snapshot | None:
        """The latest published rollups and profiles."""
        return self.aggregator.latest

    def last_probes(self) -> Mapping[str, ProbeResult]:
        """The newest probe of each endpoint."""
        with self._last_lock:
            return dict(self._last)

    def budget(self) -> BudgetState | None:
        """The last check of the probes' spend against the budget."""
        return self._budget

    def problems(self) -> list[str]:
        """Why the daemon is not ready; empty when it is."""
        found: list[str] = []
        if not self.scheduler.running:
            found.append("scheduler: not running")
        if self._store_problem:
            found.append(f"store: {self._store_problem}")
        elif not self.sink.store_healthy:
            found.append(f"store: writes failing ({self.sink.last_error})")
        return found

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Prepare the store, backfill rollups and start probing and the window job; raise
        StoreError before touching the store when another agent runs on its SQLite file."""
        self._agent_lock = hold_sqlite_store(self._store.url, self._sqlite_holder)
        self._store.upgrade()
        stored = self._store.last_probes()
        configured = {e.id for e in self._config.endpoints}
        with self._last_lock:
            self._last = {k: v for k, v in stored.items() if k in configured}
        self.metrics.declare_endpoints(self._config.endpoints)
        self._heartbeat(backfill=False)
        if self.membership.leader:
            rolled = self.aggregator.backfill()
            log.info("rollups ready", windows=len(rolled), window_seconds=self.aggregator.window)
        else:  # another agent rolls up: publish what the store holds
            self.aggregator.refresh()
            log.info("rollups ready", windows=0, window_seconds=self.aggregator.window)
        self._incident_job()
        self._budget_job()
        self.sink.start()
        self.scheduler.start(self._assigned())
        self._schedule_maintenance()
        self._maintenance.start()
        self._started = True
        if isinstance(self.scheduler, MeasuringProcess):
            self._clock_watch.clear()
            threading.Thread(
                target=self._watch_clock, name="llm-monitor-clock", daemon=True
            ).start()
        # Config, metric series (and their exposition text, made with them by
        # declare_endpoints) and clients live for the whole run: keep them out of the
        # collector's full scans, which otherwise pause the measuring loop for 0.1-0.4 s.
        gc.collect()
        gc.freeze()
        give_back()  # what declaring thousands of series left free
        # With a measuring process this process keeps Python's default: a short interval here
        # would only make its threads (a scrape among them) hand the GIL round more often.
        if isinstance(self.scheduler, ProbeScheduler):
            sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        log.info(
            "probing",
            endpoints=len(self._config.endpoints),
            models=len(self._config.models),
            store=self._store.url,
            agent=self._config.agent.name,
            location=self._config.agent.location,
        )

    def stop(self, grace_seconds: float | None = None) -> None:
        """Stop probing (in-flight probes get ``grace_seconds``, default the longest probe
        timeout), write everything, roll up, and release the store."""
        if not self._started:
            self._store.close()
            self._release_store()
            return
        self._started = False
        self._clock_watch.set()
        if grace_seconds is None:
            grace_seconds = max((e.probe.timeout for e in self._config.endpoints), default=0.0)
        self._maintenance.shutdown(wait=True)
        self.scheduler.stop(grace_seconds)
        self.sink.stop()
        try:
            if self.membership.leader:
                self.aggregator.final()
        except Exception as exc:  # the next start backfills what is missing
            log.error("final rollup failed", error=f"{type(exc).__name__}: {exc}")
        try:
            self.membership.release()
            self.metrics.rollup_leader.set(0)
        except Exception as exc:  # it expires by itself within three heartbeats
            log.warning("rollup lease not released", error=f"{type(exc).__name__}: {exc}")
        self._store.close()
        self._release_store()
        log.info("stopped", written=self.sink.written, unwritten=self.sink.pending)

    def _sqlite_holder(self) -> str:
        """`` ('name' in location 'loc', pid N on host)``: the agent that heartbeat last in this
        store, which is the one holding its SQLite file; nothing when the store cannot say."""
        try:
            records = self._store.agents()
        except Exception:  # an older schema, or unreadable: the message goes without it
            return ""
        if not records:
            return ""
        last = max(records, key=lambda r: r.last_seen)
        return f" ({last.agent!r} in location {last.location!r}, pid {last.pid} on {last.host})"

    def _release_store(self) -> None:
        if self._agent_lock is not None:
            self._agent_lock.release()
            self._agent_lock = None

    def reload(self, new: Config) -> list[str]:
        """Apply a new configuration without a restart; return why it cannot be applied (then
        nothing changes). Endpoints may be added, removed or changed; storage, server and the
        rollup window need a restart."""
        if not self._started:
            return ["the daemon is starting or stopping; send SIGHUP again once it runs"]
        old = self._config
        problems = [
            f"{name}: changed; restart llm-monitor to apply it"
            for name, before, after in (
                ("storage", old.schema.storage, new.schema.storage),
                ("server", old.schema.server, new.schema.server),
                ("rollup.window", old.schema.rollup.window, new.schema.rollup.window),
                ("agent", old.agent, new.agent),
            )
            if before != after
        ]
        if problems:
            return problems
        kept = {e.id: e for e in new.endpoints}
        for endpoint in old.endpoints:
            if kept.get(endpoint.id) != endpoint:
                self.metrics.forget_endpoint(endpoint)
        self.metrics.declare_endpoints(new.endpoints)
        self._config = new
        self.aggregator.config = new
        self.membership.config = new
        self.incidents.config = new
        self.incidents.settle = settle_seconds(new)
        self.incidents.forget()  # endpoints and intervals may differ: judge again from the store
        with self._last_lock:
            self._last = {k: v for k, v in self._last.items() if k in kept}
        self._budget_job()  # the budget may have changed
        self.scheduler.set_endpoints(self._assigned())
        return []

    def reload_from_file(self) -> bool:
        """Re-read the config file (SIGHUP); keep the running config if the new one is bad."""
        from monitor.config import load_config
        from monitor.core.errors import ConfigError

        source = self._config.source
        if source is None:
            problems = ["the configuration was not read from a file"]
        else:
            try:
                problems = self.reload(load_config(source))
            except ConfigError as exc:
                problems = exc.problems
        if problems:
            self.metrics.config_reload_success.set(0)
            log.error("config reload failed; the running configuration stays",
                      source=str(source), problems=problems)  # fmt: skip
            return False
        self.metrics.config_reload_success.set(1)
        log.info("config reloaded", source=str(source), endpoints=len(self._config.endpoints))
        return True

    def _schedule_maintenance(self) -> None:
        window = self.aggregator.window
        settle = settle_seconds(self._config)
        now = self._clock()
        # The window job runs once per window, ``settle`` seconds after each boundary.
        offset = timedelta(seconds=settle % window)
        first = window_start(now, window) + offset
        while first <= now:
            first += timedelta(seconds=window)
        self._maintenance.add_job(
            self._window_job,
            IntervalTrigger(seconds=window, start_date=first, timezone=UTC),
            id="rollup",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=window,
        )
        self._maintenance.add_job(
            self._retention_job,
            IntervalTrigger(seconds=RETENTION_SECONDS, timezone=UTC),
            id="retention",
            next_run_time=now + timedelta(seconds=60),
            max_instances=1,
            coalesce=True,
        )
        every = check_seconds(self._config)
        self._maintenance.add_job(
            self._incident_job,
            IntervalTrigger(seconds=every, timezone=UTC),
            id="incidents",
            next_run_time=now + timedelta(seconds=every),
            max_instances=1,
            coalesce=True,
        )
        self._maintenance.add_job(
            self._budget_job,
            IntervalTrigger(seconds=BUDGET_CHECK_SECONDS, timezone=UTC),
            id="budget",
            next_run_time=now + timedelta(seconds=BUDGET_CHECK_SECONDS),
            max_instances=1,
            coalesce=True,
        )
        heartbeat = self._config.schema.agent.heartbeat
        self._maintenance.add_job(
            self._heartbeat,
            IntervalTrigger(seconds=heartbeat, timezone=UTC),
            id="heartbeat",
            next_run_time=now + timedelta(seconds=heartbeat),
            max_instances=1,
            coalesce=True,
        )
        self._maintenance.add_job(
            self._check_store,
            IntervalTrigger(seconds=STORE_CHECK_SECONDS, timezone=UTC),
            id="store-check",
            next_run_time=now,
            max_instances=1,
            coalesce=True,
        )

    def _watch_clock(self) -> None:
        """With a measuring process: this process's wall clock against its monotonic clock,
        every quarter second, as the measuring process watches its own; a jump replans the
        maintenance jobs. Each process reads the clock itself (a jump reaches both at once,
        but a message from the other could arrive before this process's clock reads the
        new time, as under libfaketime, which reads its fake time from a file)."""
        clock = WallClockWatch(time.time, time.monotonic)
        while not self._clock_watch.wait(0.25):
            jump = clock.jump()
            if jump:
                self._clock_jumped(jump)

    def _clock_jumped(self, seconds: float) -> None:
        """After a wall-clock jump (called on the measuring loop, so quick): the maintenance
        jobs were planned on the old clock, so they are planned anew."""
        if not self._started:
            return
        for job in self._maintenance.get_jobs():
            job.remove()
        self.aggregator.clock_jumped()
        self._schedule_maintenance()

    def _assigned(self) -> list[Endpoint]:
        """The endpoints this agent probes (all, or its share: see Membership.share), noted
        as its share."""
        self._share = self.membership.share()
        self.membership.probing = len(self._share)
        mine = [t for e in self._config.endpoints if e.id in self._share for t in e.targets()]
        return stretched(mine, self._stretch)

    def _budget_job(self) -> None:
        """Compare the probes' spend of the last 24 h with the budget; stretch the intervals
        while it is at or over it, restore them once it is back under (docs/design.md#probe-
        spend)."""
        budget = self._config.schema.probe.budget_usd_per_day
        now = self._clock()
        spent = 0.0
        if budget is not None:
            try:
                spent = self._store.spend_since(now - timedelta(days=1))
            except Exception as exc:  # the store may be down: keep the intervals as they are
                self.metrics.storage_errors.inc()
                log.error("probe spend not read", error=f"{type(exc).__name__}: {exc}")
                return
        stretch = budget_stretch(spent, budget)
        self._budget = (
            None if budget is None else BudgetState(budget, spent, checked_at=now, stretch=stretch)
        )
        self.metrics.budget_exhausted.set(1 if stretch > 1 else 0)
        if stretch == self._stretch:
            return
        self._stretch = stretch
        if self._started:
            self.scheduler.set_endpoints(self._assigned())
        if stretch > 1:
            log.warning(
                "probe budget reached: intervals stretched",
                spent_usd=round(spent, 6),
                budget_usd_per_day=budget,
                stretch=stretch,
            )
        else:
            log.info(
                "probe spend back under budget: intervals restored",
                spent_usd=round(spent, 6),
                budget_usd_per_day=budget,
            )

    def _written(self, results: list[ProbeResult]) -> None:
        """Probes were stored (on the sink's thread): note their windows for the rollups, in
        the store too when another agent rolls up, so that it recomputes them."""
        self.aggregator.mark_written(results)
        if not self.membership.leader:
            window = self.aggregator.window
            starts = {window_start(r.started_at, window) for r in results}
            try:
                self._store.mark_windows(window, starts)
            except Exception as exc:  # the probes are stored; their windows may stay stale
                self.metrics.storage_errors.inc()
                log.error("windows not marked for rollup", error=f"{type(exc).__name__}: {exc}")

    def _heartbeat(self, *, backfill: bool = True) -> None:
        """Tell the store this agent is alive and take or renew the rollup lease; an agent that
        has just taken it over rolls up whatever its predecessor left undone."""
        try:
            became = self.membership.beat()
        except Exception as exc:  # the store may be down: probing goes on, the lease lapses
            self.metrics.storage_errors.inc()
            self.metrics.rollup_leader.set(0)
            log.error("heartbeat failed", error=f"{type(exc).__name__}: {exc}")
            return
        self.metrics.rollup_leader.set(1 if self.membership.leader else 0)
        if self.membership.clock_offset is not None:
            self.metrics.set_clock_offset(self.membership.clock_offset)
        if self._started and self.membership.share() != self._share:
            before = self._share
            self.scheduler.set_endpoints(self._assigned())
            log.info(
                "shard changed",
                probing=len(self._share),
                taken=len(self._share - before),
                given_up=len(before - self._share),
                agents=sorted(
                    p.agent
                    for p in self.membership.peers
                    if p.location == self._config.agent.location
                ),
            )
        if became and backfill:
            try:
                rolled = self.aggregator.backfill()
            except Exception as exc:
                self.metrics.storage_errors.inc()
                log.error("rollup failed", error=f"{type(exc).__name__}: {exc}")
                return
            log.info("rolled up", windows=[w.isoformat() for w in rolled], backfill=True)

    def _window_job(self) -> None:
        if not self.membership.leader:
            try:
                self.aggregator.refresh()
            except Exception as exc:
                self.metrics.storage_errors.inc()
                log.error("refresh failed", error=f"{type(exc).__name__}: {exc}")
            return
        try:
            windows = self.aggregator.tick()
        except Exception as exc:  # the store may be down: count, log and retry next window
            self.metrics.storage_errors.inc()
            log.error("rollup failed", error=f"{type(exc).__name__}: {exc}")
            return
        finally:
            give_back()  # what the rollup of every endpoint freed (monitor.service.memory)
        log.info("rolled up", windows=[w.isoformat() for w in windows])

    def _incident_job(self) -> None:
        """Judge the slots completed since the last run (the rollup lease holder only: it
        judges every location's probes); publish which endpoints have an open incident. Then
        give the C heap's free pages back, as the window job does: between jobs the sink, the
        store writer and the HTTP workers leave megabytes free there (monitor.service.memory).
        """
        try:
            self._judge_incidents()
        finally:
            give_back()

    def _judge_incidents(self) -> None:
        if not self.membership.leader:
            self.incidents.forget()  # the holder judges; taking over later starts afresh
            self._publish_live()
            return
        try:
            self.incidents.run()
        except Exception as exc:  # the store may be down: judged again from it next run
            self.metrics.storage_errors.inc()
            log.error("incidents not judged", error=f"{type(exc).__name__}: {exc}")
        self._publish_live()

    def _retention_job(self) -> None:
        cutoff = self._clock() - timedelta(seconds=self._config.schema.rollup.raw_retention)
        try:
            deleted = self._store.delete_probes_before(cutoff)
        except Exception as exc:
            self.metrics.storage_errors.inc()
            log.error("retention failed", error=f"{type(exc).__name__}: {exc}")
            return
        if deleted:
            log.info("retention", deleted=deleted, before=cutoff.isoformat())

    def _check_store(self) -> None:
        try:
            self._store.ping()
        except StoreError as exc:
            self._store_problem = str(exc)
        else:
            self._store_problem = None

    def _wait_for_scrape(self) -> None:
        """Where background work (the window job, the live families' text) can wait: while a
        scrape is being written, at most ``SCRAPE_WAIT_SECONDS``, so that the scrape does not
        share the interpreter lock with it."""
        self._registry.wait_quiet(SCRAPE_WAIT_SECONDS)

    def _publish(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._publish_live()

    def _publish_live(self) -> None:
        # Only the rollup leader exports the window, model and incident families: every agent
        # would export the same numbers, and Prometheus summing over agents would multiply them.
        with self._publish_lock:
            snapshot = self._snapshot
            if not self.membership.leader:
                self._published = LiveState()
                self._collector.publish(self._published)
                return
            state = LiveState(
                rollups=snapshot.rollups if snapshot else (),
                models=self._config.models,
                profiles=tuple(snapshot.profiles.values()) if snapshot else (),
                incidents=self.incidents.open_flags(),
            )
            # The incident job publishes every few seconds: a state equal to the last one
            # keeps the exposition text the collector made for it.
            if state != self._published:
                self._published = state
                self._collector.publish(state, self._wait_for_scrape)

    def _remember(self, result: ProbeResult) -> None:
        if result.kind != DEFAULT_KIND:  # an endpoint's state is its default kind's
            return
        with self._last_lock:
            self._last[result.endpoint] = result

    def _last_probe_at(self) -> dict[str, datetime]:
        with self._last_lock:
            return {k: v.started_at for k, v in self._last.items()}


def stretched(endpoints: list[Endpoint], factor: float) -> list[Endpoint]:
    """The endpoints with their intervals ``factor`` times longer (themselves at 1)."""
    if factor == 1:
        return endpoints
    return [
        replace(e, probe=replace(e.probe, interval=e.probe.interval * factor)) for e in endpoints
    ]
