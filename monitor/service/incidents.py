"""The incident job: judges each endpoint's probe slots once they are complete, opens, extends
and closes incidents, and stores them (docs/design.md#incidents).

It runs on the agent that holds the rollup lease, so that with several locations one agent
judges every location's votes. Its state (each endpoint's open incident and the run of down or
up slots in progress) lives in memory and is rebuilt from the store whenever it is not known:
at start-up, after this agent takes the lease over, and after a failed store write. Rebuilding
judges the stored probes again from the start of each open incident (or, without one, from a
few runs' worth of slots back); since an incident is keyed by its endpoint and start, that
gives the stored incidents back, never second copies, so an agent killed mid-incident carries
the same incident on when it starts again.

A slot is judged once its end is ``settle`` seconds in the past (the longest probe timeout and
the sink's flush delay: by then every location's probe of it is stored). A probe stored later
than that (an agent's spool flushed after a store outage) is not judged again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from monitor.config import Config, Endpoint
from monitor.core.incidents import (
    Incident,
    IncidentProbe,
    IncidentTracker,
    judge_slots,
    slot_start,
)
from monitor.core.quorum import parse_quorum
from monitor.store import Store

log = structlog.get_logger("monitor.incidents")

#: How many runs of slots (``open_after`` + ``close_after``) a rebuild judges again for an
#: endpoint without an open incident.
REBUILD_RUNS = 2


def check_seconds(config: Config) -> float:
    """How often the job runs: every shortest probe interval, between 1 s and 15 s."""
    intervals = [e.probe.interval for e in config.endpoints] or [config.schema.probe.interval]
    return min(15.0, max(1.0, min(intervals)))


@dataclass
class IncidentJob:
    """Judges slots and keeps incidents; ``run()`` is the job, ``forget()`` drops the state."""

    config: Config
    store: Store
    settle: float
    clock: Callable[[], datetime]
    _trackers: dict[str, IncidentTracker] | None = None
    #: Per endpoint: the start of its first slot not judged yet.
    _cursor: dict[str, datetime] = field(default_factory=dict)

    def forget(self) -> None:
        """Drop the state: the next run rebuilds it from the store (another agent may have
        judged slots meanwhile)."""
        self._trackers = None

    def open_flags(self) -> tuple[tuple[str, str, str, bool], ...]:
        """(endpoint, provider, model, open) of each configured endpoint, as last judged;
        empty while the state is not known. Called from the window job's thread too, while
        this job may drop or rebuild its state: it reads the state once."""
        trackers = self._trackers
        if trackers is None:
            return ()
        return tuple(
            (e.id, e.provider, e.model.id, trackers[e.id].incident is not None)
            for e in self.config.endpoints
            if e.id in trackers
        )

    def run(self) -> list[Incident]:
        """Judge every slot completed since the last run; store and return the incidents
        that changed. On a store error the state is dropped (rebuilt next run) and it raises."""
        until = self.clock() - timedelta(seconds=self.settle)
        try:
            if self._trackers is None:
                changed = self._rebuild(until)
                log.info(
                    "incidents judged from the store",
                    open=sorted(e for e, t in self._trackers_now().items() if t.incident),
                )
            else:
                changed = self._judge(self._read(until), until, announce=True)
            self.store.upsert_incidents(changed)
        except BaseException:
            self.forget()
            raise
        return changed

    def _trackers_now(self) -> dict[str, IncidentTracker]:
        assert self._trackers is not None
        return self._trackers

    def _read(self, until: datetime) -> dict[str, list[IncidentProbe]]:
        """The probes after each endpoint's cursor: one read per distinct cursor (endpoints
        of one interval share theirs), so an endpoint probed hourly does not make every run
        read an hour of every endpoint's probes."""
        by_cursor: dict[datetime, list[str]] = {}
        for endpoint_id, cursor in self._cursor.items():
            by_cursor.setdefault(cursor, []).append(endpoint_id)
        probes: dict[str, list[IncidentProbe]] = {}
        for cursor, endpoint_ids in sorted(by_cursor.items()):
            if cursor >= until:
                continue
            wanted = None if len(by_cursor) == 1 else endpoint_ids
            for probe in self.store.incident_probes(cursor, until, endpoints=wanted):
                probes.setdefault(probe.endpoint, []).append(probe)
        return probes

    def _rebuild(self, until: datetime) -> list[Incident]:
        settings = self.config.schema.incidents
        endpoints = self.config.endpoints
        stored_open = {i.endpoint: i for i in self.store.incidents(open_only=True)}
        longest = max((e.probe.interval for e in endpoints), default=60.0)
        runs = REBUILD_RUNS * (settings.open_after + settings.close_after)
        horizon = until - timedelta(seconds=runs * longest)
        latest_closed: dict[str, datetime] = {}
        for incident in self.store.incidents(since=horizon, open_only=False):
            seen = latest_closed.get(incident.endpoint)
            if seen is None or incident.checked_at > seen:
                latest_closed[incident.endpoint] = incident.checked_at
        starts: dict[str, datetime] = {}
        for endpoint in endpoints:
            if endpoint.id in stored_open:
                start = stored_open[endpoint.id].started_at
            else:
                start = max(horizon, latest_closed.get(endpoint.id, horizon))
            starts[endpoint.id] = slot_start(start, endpoint.probe.interval)
        # One read for the endpoints whose replay starts near the horizon, one each for those
        # with an incident open since before it.
        near = slot_start(horizon, longest)
        probes: dict[str, list[IncidentProbe]] = {}
        common = [e for e, start in starts.items() if start >= near]
        if common:
            for probe in self.store.incident_probes(min(starts[e] for e in common), until):
                probes.setdefault(probe.endpoint, []).append(probe)
        for endpoint_id, start in starts.items():
            if start < near:
                probes[endpoint_id] = self.store.incident_probes(
                    start, until, endpoints=[endpoint_id]
                )
        self._trackers = {e.id: self._tracker(e) for e in endpoints}
        self._cursor = starts
        changed = self._judge(probes, until, announce=False)
        # An open incident the replay did not give back (the settings changed, or its probes
        # are gone) is closed where it was last judged, so that none stays open for ever.
        # One of an endpoint no longer configured is left as it is.
        given_back = {(i.endpoint, i.started_at) for i in changed}
        for endpoint_id, incident in stored_open.items():
            tracker = self._trackers.get(endpoint_id)
            if tracker is None or (endpoint_id, incident.started_at) in given_back:
                continue
            if tracker.incident is not None and tracker.incident.started_at == incident.started_at:
                continue
            changed.append(replace(incident, ended_at=incident.checked_at))
            log.info(
                "stale incident closed",
                endpoint=endpoint_id,
                started_at=incident.started_at.isoformat(),
            )
        return changed

    def _tracker(self, endpoint: Endpoint) -> IncidentTracker:
        settings = self.config.schema.incidents
        return IncidentTracker(
            endpoint=endpoint.id,
            model=endpoint.model.id,
            provider=endpoint.provider,
            open_after=settings.open_after,
            close_after=settings.close_after,
        )

    def _judge(
        self, probes: dict[str, list[IncidentProbe]], until: datetime, *, announce: bool
    ) -> list[Incident]:
        trackers = self._trackers_now()
        rollup = self.config.schema.rollup
        rule = parse_quorum(rollup.quorum)
        changed: dict[tuple[str, datetime], Incident] = {}
        for endpoint in self.config.endpoints:
            tracker = trackers[endpoint.id]
            cursor = self._cursor[endpoint.id]
            interval = endpoint.probe.interval
            complete = slot_start(until, interval)
            if complete <= cursor:
                continue
            mine = [p for p in probes.get(endpoint.id, ()) if cursor <= p.started_at < complete]
            verdicts = judge_slots(
                mine,
                interval_seconds=interval,
                rule=rule,
                rate_limited_is_down=rollup.rate_limited_is_down,
            )
            for verdict in verdicts:
                was_open = tracker.incident is not None
                incident = tracker.feed(verdict)
                if incident is None:
                    continue
                changed[(incident.endpoint, incident.started_at)] = incident
                if announce and not was_open:
                    log.warning(
                        "incident opened",
                        endpoint=incident.endpoint,
                        started_at=incident.started_at.isoformat(),
                        outcomes=dict(incident.outcomes),
                        error=incident.first_error,
                    )
                elif announce and incident.ended_at is not None:
                    log.info(
                        "incident closed",
                        endpoint=incident.endpoint,
                        started_at=incident.started_at.isoformat(),
                        ended_at=incident.ended_at.isoformat(),
                        duration_seconds=round(incident.duration_seconds, 3),
                    )
            self._cursor[endpoint.id] = complete
        return list(changed.values())
