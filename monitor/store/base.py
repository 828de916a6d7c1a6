"""The interface of the store: every backend passes the same contract tests (tests/store/).

Every method is synchronous and safe to call from several threads at once; the daemon calls
them from worker threads, never on its event loop. Time ranges are half-open, ``[since, until)``,
and every datetime given or returned is an aware UTC datetime. Database failures raise
``monitor.core.errors.StoreError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from monitor.core.agent import AgentRecord, Lease
from monitor.core.incidents import Incident, IncidentProbe
from monitor.core.profile import KindRow, UptimeCounts
from monitor.core.result import ProbeResult
from monitor.core.rollup import EndpointRollup, ProbeRow


class WindowPoint(NamedTuple):
    """A few numbers of one stored rollup: what a bar or a chart of windows draws, read without
    building whole rollups (``Store.window_points``)."""

    endpoint: str
    window_start: datetime
    probes: int
    successes: int
    #: The probes that count for uptime (successes and down outcomes); 0 when none counts.
    counted: int
    uptime_ratio: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    speed_p50: float | None


class Store(Protocol):
    """Durable probes, rollups and model profile snapshots."""

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        ...

    # Schema

    def upgrade(self) -> None:
        """Migrate the schema to this version's head; refuse a database with a newer schema."""
        ...

    def current_revision(self) -> str | None:
        """The schema revision of the database, or None before the first migration."""
        ...

    def head_revision(self) -> str:
        """The newest schema revision this version of llm-monitor knows."""
        ...

    # Agents and leases (docs/design.md#agents)

    def db_now(self) -> datetime:
        """The store's clock: the database server's on PostgreSQL, this process's on SQLite."""
        ...

    def heartbeat(self, record: AgentRecord) -> datetime:
        """Write ``record`` as its agent's row with ``last_seen`` the store's clock; return it."""
        ...

    def agents(self) -> list[AgentRecord]:
        """Every agent that ever sent a heartbeat, by location then name."""
        ...

    def lease(self, name: str) -> Lease | None:
        """The lease ``name`` as stored, if it was ever taken."""
        ...

    def acquire_lease(self, name: str, holder: str, seconds: float) -> tuple[Lease, datetime]:
        """Take or renew the lease for ``seconds`` of the store's clock if it is free, expired
        or ``holder``'s; the lease after the attempt and the store's clock then."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """End ``holder``'s lease now (nothing if another agent holds it)."""
        ...

    def mark_windows(self, window_seconds: int, starts: Iterable[datetime]) -> None:
        """Mark windows for the rollup leader to roll up again (another agent wrote into them)."""
        ...

    def dirty_windows(
        self, window_seconds: int, until: datetime | None = None
    ) -> dict[datetime, datetime]:
        """The marked windows starting before ``until``: start to mark."""
        ...

    def clear_dirty_windows(self, window_seconds: int, seen: Mapping[datetime, datetime]) -> None:
        """Delete the marks seen, unless marked again since."""
        ...

    # Raw probes

    def add_probes(self, results: Sequence[ProbeResult]) -> int:
        """Store probes in one transaction, ignoring known probe ids; return how many were new."""
        ...

    def probes(
        self,
        *,
        endpoint: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[ProbeResult]:
        """Stored probes started in [since, until), filtered by endpoint and model, in order."""
        ...

    def last_probes(self) -> dict[str, ProbeResult]:
        """The newest stored probe of each endpoint, by endpoint id."""
        ...

    def last_probe_times(self) -> dict[str, datetime]:
        """When the newest stored probe of each endpoint started, by endpoint id (what
        ``last_probes`` gives without reading whole probes)."""
        ...

    def probe_rows(self, since: datetime, until: datetime) -> dict[str, list[ProbeRow]]:
        """The rollup columns of the probes started in [since, until), by endpoint, each with
        its location and its start as seconds after ``since`` (``offset_seconds``)."""
        ...

    def probe_windows(self, since: datetime, until: datetime, window_seconds: int) -> set[datetime]:
        """Starts of the aligned windows holding at least one probe started in [since, until)."""
        ...

    def incident_probes(
        self, since: datetime, until: datetime, *, endpoints: Sequence[str] | None = None
    ) -> list[IncidentProbe]:
        """What judging incidents needs of the probes started in [since, until) (of these
        ``endpoints``, else of all), oldest first."""
        ...

    def kind_rows(self, since: datetime, until: datetime) -> list[KindRow]:
        """Probes of kinds other than the default started in [since, until), oldest first."""
        ...

    def spend_since(self, since: datetime, until: datetime | None = None) -> float:
        """USD the probes started in [since, until) cost (every agent's)."""
        ...

    def delete_probes_before(self, cutoff: datetime, *, batch_size: int = 5000) -> int:
        """Delete probes started before ``cutoff`` in short transactions; return how many."""
        ...

    # Rollups

    def upsert_rollups(self, rollups: Sequence[EndpointRollup]) -> None:
        """Insert or replace the rollups, keyed by (endpoint, window_seconds, window_start).

        A rollup of no probes is not stored (and leaves a stored one of its key as it is): a
        window without probes has no rollup, which readers show as "no data"."""
        ...

    def rollups(
        self,
        *,
        window_seconds: int,
        since: datetime | None = None,
        until: datetime | None = None,
        model: str | None = None,
        endpoint: str | None = None,
    ) -> list[EndpointRollup]:
        """Rollups whose window starts in [since, until), by window start then endpoint; never
        one of no probes (an earlier version wrote those for windows without probes)."""
        ...

    def location_rollups(
        self,
        *,
        window_seconds: int,
        since: datetime | None = None,
        until: datetime | None = None,
        model: str | None = None,
        endpoint: str | None = None,
    ) -> list[EndpointRollup]:
        """Each location's rollups whose window starts in [since, until), by window start,
        endpoint, then location (``upsert_rollups`` stores a rollup with a ``location`` there)."""
        ...

    def rollup_windows(
        self, window_seconds: int, since: datetime, until: datetime
    ) -> set[datetime]:
        """Starts in [since, until) of the windows that have at least one rollup of at least
        one probe."""
        ...

    def uptime_counts(
        self,
        *,
        window_seconds: int,
        since: datetime | None = None,
        until: datetime | None = None,
        model: str | None = None,
    ) -> dict[str, UptimeCounts]:
        """By model, what its profile's uptime over windows starting in [since, until) needs:
        outcome counts of the windows one location probed, quorum slots of those several did,
        and each location's outcome counts (docs/design.md#model-profile)."""
        ...

    def window_points(
        self,
        *,
        window_seconds: int,
        since: datetime,
        until: datetime,
        endpoints: Sequence[str] | None = None,
        model: str | None = None,
        rate_limited_is_down: bool = True,
    ) -> list[WindowPoint]:
        """A few numbers of each rollup whose window starts in [since, until), of ``endpoints``
        (default all) and ``model``, by endpoint then window start; never one of no probes.

        ``counted`` is exact: successes ÷ uptime where some probe succeeded, else the window's
        down outcomes (``rate_limited`` among them as ``rate_limited_is_down`` says), so that
        uptime over several windows is their successes ÷ their counted probes."""
        ...

    def rollup_window_starts(
        self, window_seconds: int, *, until: datetime, limit: int
    ) -> list[datetime]:
        """The starts of the newest ``limit`` windows before ``until`` that have a rollup of at
        least one probe, newest first."""
        ...

    # Model profiles

    def upsert_profile(
        self,
        model: str,
        window_seconds: int,
        window_start: datetime,
        refreshed_at: datetime,
        live: dict[str, Any],
    ) -> None:
        """Insert or replace the model's profile snapshot (the JSON ``live`` object) of a window."""
        ...

    def profiles(
        self,
        model: str,
        *,
        window_seconds: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The model's ``live`` snapshots of windows starting in [since, until), oldest first."""
        ...

    def latest_profile(self, model: str, window_seconds: int) -> dict[str, Any] | None:
        """The model's ``live`` snapshot of its newest window, or None."""
        ...

    # Life cycle

    # Incidents

    def upsert_incidents(self, incidents: Sequence[Incident]) -> None:
        """Insert incidents, or replace the stored ones of the same endpoint and start."""
        ...

    def incidents(
        self,
        *,
        endpoint: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        open_only: bool | None = None,
        limit: int | None = None,
    ) -> list[Incident]:
        """Incidents that overlap [since, until) (started before ``until``, not ended by
        ``since``), newest start first; ``open_only`` True: only open ones, False: only closed."""
        ...

    def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers."""
        ...

    def close(self) -> None:
        """Release every connection; the store cannot be used afterwards."""
        ...
