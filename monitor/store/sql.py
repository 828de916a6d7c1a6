"""``SQLStore``: the ``Store`` on SQLite or PostgreSQL through SQLAlchemy Core.

One engine (a thread-safe connection pool) serves every thread; each method runs in its own
short transaction. Writes use the dialect's ``INSERT ... ON CONFLICT`` so that probes are
idempotent on ``probe_id`` and rollups and profiles are idempotent upserts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    Table,
    case,
    cast,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)

from monitor.core.agent import AgentRecord, Lease
from monitor.core.errors import StoreError
from monitor.core.incidents import Incident, IncidentProbe
from monitor.core.kinds import DEFAULT_KIND
from monitor.core.outcomes import counts_as_down
from monitor.core.profile import KindRow, UptimeCounts
from monitor.core.result import ProbeResult
from monitor.core.rollup import EndpointRollup, ProbeRow
from monitor.store import dialects, migrate
from monitor.store.base import WindowPoint
from monitor.store.bulk import BulkWrite
from monitor.store.engine import (
    WRITE_OPTION,
    create_store_engine,
    parse_url,
    safe_url,
    store_errors,
)
from monitor.store.rows import (
    OUTCOMES,
    ROLLUP_PATHS,
    incident_to_row,
    probe_to_row,
    row_to_incident,
    row_to_probe,
    row_to_rollup,
)
from monitor.store.schema import UTCDateTime, model_profiles, probes
from monitor.store.schema import agents as agents_table
from monitor.store.schema import dirty_windows as dirty_table
from monitor.store.schema import incidents as incidents_table
from monitor.store.schema import leases as leases_table
from monitor.store.schema import location_rollups as location_table
from monitor.store.schema import rollups as rollups_table

_ROLLUP_KEY = ("endpoint", "window_seconds", "window_start")
#: Most values in one ``IN (...)`` list.
_IN_CHUNK = 500
#: Most rows in one bulk write's parameters.
WRITE_SLICE = 500
_PROFILE_KEY = ("model", "window_seconds", "window_start")


class SQLStore:
    """The store in one SQLite file or one PostgreSQL database."""

    def __init__(self, url: str) -> None:
        self._url = parse_url(url)
        self._engine = create_store_engine(self._url)
        self._dialect = self._engine.dialect.name
        self._closed = False
        #: Bulk writes by table name, each compiled once (``_rollup_write``).
        self._bulk: dict[str, BulkWrite[EndpointRollup]] = {}

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return safe_url(self._url)

    # Plumbing

    @contextmanager
    def _read(self, action: str) -> Iterator[Connection]:
        self._check_open()
        with store_errors(self._url, action), self._engine.connect() as connection:
            yield connection

    @contextmanager
    def _write(self, action: str) -> Iterator[Connection]:
        self._check_open()
        with store_errors(self._url, action), self._engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the store at {self.url} is closed")

    # Schema

    def upgrade(self) -> None:
        """Migrate the schema to this version's head; refuse a database with a newer schema."""
        with self._write("upgrade the schema") as connection:
            migrate.upgrade(connection)

    def current_revision(self) -> str | None:
        """The schema revision of the database, or None before the first migration."""
        with self._read("read the schema revision") as connection:
            return migrate.current_revision(connection)

    def head_revision(self) -> str:
        """The newest schema revision this version of llm-monitor knows."""
        return migrate.head_revision()

    # Raw probes

    def add_probes(self, results: Sequence[ProbeResult]) -> int:
        """Store probes in one transaction, ignoring known probe ids; return how many were new."""
        if not results:
            return 0
        # RETURNING lists only the rows actually inserted, on both dialects and however the
        # driver batches the rows, so the count stays exact under concurrent writers.
        statement = (
            dialects.insert(self._dialect, probes)
            .on_conflict_do_nothing(index_elements=["probe_id"])
            .returning(probes.c.probe_id)
        )
        rows = [probe_to_row(result) for result in results]
        with self._write("store probes") as connection:
            return len(connection.execute(statement, rows).all())

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
        query = select(probes)
        if endpoint is not None:
            query = query.where(probes.c.endpoint == endpoint)
        if model is not None:
            query = query.where(probes.c.model == model)
        query = _in_range(query, probes.c.started_at, since, until)
        if newest_first:
            query = query.order_by(probes.c.started_at.desc(), probes.c.probe_id.desc())
        else:
            query = query.order_by(probes.c.started_at, probes.c.probe_id)
        if limit is not None:
            query = query.limit(limit)
        with self._read("read probes") as connection:
            return [row_to_probe(row) for row in connection.execute(query).mappings()]

    def last_probes(self) -> dict[str, ProbeResult]:
        """The newest stored probe of each endpoint, by endpoint id."""
        # A loose index scan written as a recursive CTE: hop from one endpoint to the next in
        # the (endpoint, started_at) index, then take each endpoint's newest entry from it.
        # Cost grows with the number of endpoints, not of probes (neither database does
        # this on its own for GROUP BY).
        endpoints = _stored_endpoints()
        newest = probes.alias("newest")
        newest_id = (
            select(newest.c.probe_id)
            .where(newest.c.endpoint == endpoints.c.endpoint, _default_kind(newest))
            .order_by(newest.c.started_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        ids = select(newest_id).where(endpoints.c.endpoint.is_not(None))
        query = select(probes).where(probes.c.probe_id.in_(ids))
        with self._read("read the last probes") as connection:
            found = [row_to_probe(row) for row in connection.execute(query).mappings()]
        return {probe.endpoint: probe for probe in found}

    def last_probe_times(self) -> dict[str, datetime]:
        """When the newest stored probe of each endpoint started, by endpoint id (what
        ``last_probes`` gives without reading whole probes)."""
        # The same loose index scan as last_probes; each endpoint's newest start is then one
        # lookup at the end of its range of the (endpoint, started_at) index.
        endpoints = _stored_endpoints()
        newest = probes.alias("newest")
        newest_start = (
            select(func.max(newest.c.started_at))
            .where(newest.c.endpoint == endpoints.c.endpoint, _default_kind(newest))
            .scalar_subquery()
        )
        query = select(endpoints.c.endpoint, newest_start.label("started_at")).where(
            endpoints.c.endpoint.is_not(None)
        )
        with self._read("read the last probe times") as connection:
            rows = connection.execute(query).all()
        # Not dict(rows): to the type checker a row is not a pair.
        return {endpoint: started for endpoint, started in rows}  # noqa: C416

    def probe_rows(self, since: datetime, until: datetime) -> dict[str, list[ProbeRow]]:
        """The rollup columns of the probes started in [since, until), by endpoint, each with
        its location and its start as seconds after ``since``."""
        query = _in_range(
            select(
                probes.c.endpoint,
                probes.c.outcome,
                probes.c.ttft_seconds,
                probes.c.output_tokens_per_second,
                probes.c.total_seconds,
                probes.c.output_tokens,
                probes.c.input_tokens,
                probes.c.cost_usd,
                probes.c.location,
                dialects.seconds_since(self._dialect, probes.c.started_at, since),
                probes.c.answer_ttft_seconds,
            ),
            probes.c.started_at,
            since,
            until,
        )
        query = query.where(_default_kind(probes)).order_by(probes.c.started_at)
        with self._read("read probes") as connection:
            # Fetch everything first so the connection goes back to the pool before the
            # Python objects are built. The driver's own rows, not SQLAlchemy's: every column
            # here is a plain str, int or float on both drivers (no result processing to
            # skip), and building 90,000 Row objects took a third of a window's rollup.
            result = connection.execute(query)
            try:
                fetched = result.cursor.fetchall()
            finally:
                result.close()
        grouped: dict[str, list[ProbeRow]] = {}
        outcomes = OUTCOMES
        make = tuple.__new__  # ProbeRow's own __new__, without its keyword handling
        for (
            endpoint,
            outcome,
            ttft,
            speed,
            total,
            output,
            input_,
            cost,
            where,
            at,
            answer,
        ) in fetched:
            row = make(
                ProbeRow,
                (
                    endpoint, outcomes[outcome], ttft, speed, total, output, input_, cost, where,
                    at, answer,
                ),
            )  # fmt: skip
            rows = grouped.get(endpoint)
            if rows is None:
                grouped[endpoint] = [row]
            else:
                rows.append(row)
        return grouped

    def probe_windows(self, since: datetime, until: datetime, window_seconds: int) -> set[datetime]:
        """Starts of the aligned windows holding at least one probe started in [since, until)."""
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, not {window_seconds}")
        # Hop from window to window through the started_at index (a recursive CTE): each step
        # finds the first probe at or after the end of the previous window. Cost grows with
        # the number of windows found, not with the number of probes, which matters at
        # start-up over a month of raw probes.
        first = _in_range(
            select(
                dialects.window_start(
                    self._dialect, func.min(probes.c.started_at), window_seconds
                ).label("start")
            ),
            probes.c.started_at,
            since,
            until,
        )
        windows = first.cte("windows", recursive=True)
        later = probes.alias("later")
        following = _in_range(
            select(
                dialects.window_start(self._dialect, func.min(later.c.started_at), window_seconds)
            ),
            later.c.started_at,
            dialects.window_end(self._dialect, windows.c.start, window_seconds),
            until,
        ).scalar_subquery()
        windows = windows.union_all(select(following).where(windows.c.start.is_not(None)))
        query = select(windows.c.start).where(windows.c.start.is_not(None))
        with self._read("read probe windows") as connection:
            return set(connection.execute(query).scalars())

    def incident_probes(
        self, since: datetime, until: datetime, *, endpoints: Sequence[str] | None = None
    ) -> list[IncidentProbe]:
        """What judging incidents needs of the probes started in [since, until), oldest first."""
        query = _in_range(
            select(
                probes.c.endpoint,
                probes.c.location,
                probes.c.started_at,
                probes.c.outcome,
                probes.c.error,
            ),
            probes.c.started_at,
            since,
            until,
        )
        if endpoints is not None:
            query = query.where(probes.c.endpoint.in_(list(endpoints)))
        query = query.where(_default_kind(probes)).order_by(probes.c.started_at)
        with self._read("read probes") as connection:
            rows = connection.execute(query).all()
        outcomes = OUTCOMES
        return [
            IncidentProbe(name, where, at, outcomes[outcome], error)
            for name, where, at, outcome, error in rows
        ]

    def kind_rows(self, since: datetime, until: datetime) -> list[KindRow]:
        """Probes of kinds other than the default started in [since, until), oldest first."""
        query = _in_range(
            select(
                probes.c.endpoint,
                probes.c.kind,
                probes.c.outcome,
                probes.c.ttft_seconds,
                probes.c.input_tokens,
            ),
            probes.c.started_at,
            since,
            until,
        )
        query = query.where(probes.c.kind.is_not(None), probes.c.kind != DEFAULT_KIND)
        with self._read("read probes") as connection:
            rows = connection.execute(query.order_by(probes.c.started_at)).all()
        outcomes = OUTCOMES
        return [
            KindRow(endpoint, kind, outcomes[outcome], ttft, tokens)
            for endpoint, kind, outcome, ttft, tokens in rows
        ]

    def spend_since(self, since: datetime, until: datetime | None = None) -> float:
        """USD the probes started in [since, until) cost (their ``cost_usd``, by every agent
        of the store; a probe of unknown cost adds nothing)."""
        query = _in_range(
            select(func.coalesce(func.sum(probes.c.cost_usd), 0.0)),
            probes.c.started_at,
            since,
            until,
        )
        with self._read("read the probes' spend") as connection:
            return float(connection.execute(query).scalar_one())

    def delete_probes_before(self, cutoff: datetime, *, batch_size: int = 5000) -> int:
        """Delete probes started before ``cutoff`` in short transactions; return how many."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        batch = (
            select(probes.c.probe_id)
            .where(probes.c.started_at < cutoff)
            .limit(batch_size)
            .scalar_subquery()
        )
        statement = delete(probes).where(probes.c.probe_id.in_(batch))
        deleted = 0
        while True:
            # One transaction per batch: other writers get the lock between batches.
            with self._write("delete old probes") as connection:
                count = connection.execute(statement).rowcount
            deleted += count
            if count < batch_size:
                return deleted

    # Rollups

    def upsert_rollups(self, rollups: Sequence[EndpointRollup]) -> None:
        """Insert or replace the rollups, keyed by (endpoint, window_seconds, window_start)."""
        # The last rollup of a key wins, as if written one by one; PostgreSQL would refuse a
        # statement that updates one row twice.
        across = {
            (rollup.endpoint, rollup.window_seconds, rollup.window_start): rollup
            for rollup in rollups
            if rollup.probes > 0 and rollup.location is None
        }
        located = {
            (r.endpoint, r.window_seconds, r.window_start, r.location): r
            for r in rollups
            if r.probes > 0 and r.location is not None
        }
        if not across and not located:
            return
        location_key = (*_ROLLUP_KEY, "location")
        writes = (
            (self._rollup_write(rollups_table, _ROLLUP_KEY), list(across.values())),
            (self._rollup_write(location_table, location_key), list(located.values())),
        )
        with self._write("store rollups") as connection:
            for write, values in writes:
                # Rows made and written a slice at a time, in one transaction: a window of
                # 5,000 endpoints as row dicts and driver parameters was 50 MB at once, and a
                # heap grown for that stays grown (docs/architecture.md#memory).
                for first in range(0, len(values), WRITE_SLICE):
                    write.execute(connection, values[first : first + WRITE_SLICE])

    def _rollup_write(self, table: Table, key: tuple[str, ...]) -> BulkWrite[EndpointRollup]:
        """The upsert of ``table``'s rows, compiled on first use (monitor.store.bulk)."""
        write = self._bulk.get(table.name)
        if write is None:
            statement = dialects.upsert(self._dialect, table, key)
            write = BulkWrite(statement, table, self._engine.dialect, ROLLUP_PATHS)
            self._bulk[table.name] = write
        return write

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
        query = select(rollups_table).where(
            rollups_table.c.window_seconds == window_seconds, rollups_table.c.probes > 0
        )
        if model is not None:
            query = query.where(rollups_table.c.model == model)
        if endpoint is not None:
            query = query.where(rollups_table.c.endpoint == endpoint)
        query = _in_range(query, rollups_table.c.window_start, since, until)
        query = query.order_by(rollups_table.c.window_start, rollups_table.c.endpoint)
        with self._read("read rollups") as connection:
            return [row_to_rollup(row) for row in connection.execute(query).mappings()]

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
        endpoint, then location."""
        table = location_table
        query = select(table).where(table.c.window_seconds == window_seconds, table.c.probes > 0)
        if model is not None:
            query = query.where(table.c.model == model)
        if endpoint is not None:
            query = query.where(table.c.endpoint == endpoint)
        query = _in_range(query, table.c.window_start, since, until)
        query = query.order_by(table.c.window_start, table.c.endpoint, table.c.location)
        with self._read("read location rollups") as connection:
            return [row_to_rollup(row) for row in connection.execute(query).mappings()]

    def rollup_windows(
        self, window_seconds: int, since: datetime, until: datetime
    ) -> set[datetime]:
        """Starts in [since, until) of the windows that have at least one rollup of at least
        one probe."""
        query = _in_range(
            select(rollups_table.c.window_start).where(
                rollups_table.c.window_seconds == window_seconds, rollups_table.c.probes > 0
            ),
            rollups_table.c.window_start,
            since,
            until,
        ).distinct()
        with self._read("read rollup windows") as connection:
            return set(connection.execute(query).scalars())

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
        and each location's outcome counts."""
        one = rollups_table.c.slots_up.is_(None)
        fetched = self._summed_outcomes(
            rollups_table, window_seconds, since, until, model, "read uptime counts", one
        )
        outcomes: dict[str, dict[str, dict[str, int]]] = {}
        for model_id, endpoint, outcome, total in fetched:
            outcomes.setdefault(model_id, {}).setdefault(endpoint, {})[outcome] = total
        table = rollups_table
        query = select(
            table.c.model,
            table.c.endpoint,
            func.sum(table.c.slots_up),
            func.sum(table.c.slots_down),
        ).where(table.c.window_seconds == window_seconds, table.c.slots_up.is_not(None))
        if model is not None:
            query = query.where(table.c.model == model)
        query = _in_range(query, table.c.window_start, since, until)
        query = query.group_by(table.c.model, table.c.endpoint)
        slots: dict[str, dict[str, tuple[int, int]]] = {}
        with self._read("read uptime counts") as connection:
            for model_id, endpoint, up, down in connection.execute(query):
                slots.setdefault(model_id, {})[endpoint] = (int(up), int(down))
        located = self._summed_outcomes(
            location_table, window_seconds, since, until, model, "read uptime counts"
        )
        by_location: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
        for model_id, endpoint, location, outcome, total in located:
            key = (endpoint, location)
            by_location.setdefault(model_id, {}).setdefault(key, {})[outcome] = total
        return {
            m: UptimeCounts(
                outcomes=outcomes.get(m, {}),
                slots=slots.get(m, {}),
                by_location=by_location.get(m, {}),
            )
            for m in sorted(set(outcomes) | set(slots) | set(by_location))
        }

    def _summed_outcomes(
        self,
        table: Table,
        window_seconds: int,
        since: datetime | None,
        until: datetime | None,
        model: str | None,
        action: str,
        *where: ColumnElement[bool],
    ) -> list[tuple[Any, ...]]:
        """Rows of (model, endpoint[, location], outcome, sum) over the ``outcomes`` of the
        rows of ``table`` (the rollups or the location rollups) of windows in [since, until)."""
        # Summed in the database: a day of 30-minute windows of 100 endpoints is 4,800 rollups
        # of ~40 columns each, but only a few hundred (model, endpoint, outcome) sums.
        entries = dialects.json_entries(self._dialect, table.c.outcomes, "entries")
        keys = [table.c.model, table.c.endpoint]
        if "location" in table.c:
            keys.append(table.c.location)
        query = (
            select(*keys, entries.c.key, func.sum(cast(entries.c.value, BigInteger)))
            .select_from(table)
            .join(entries, true())
            .where(table.c.window_seconds == window_seconds, *where)
        )
        if model is not None:
            query = query.where(table.c.model == model)
        query = _in_range(query, table.c.window_start, since, until)
        query = query.group_by(*keys, entries.c.key).order_by(*keys, entries.c.key)
        with self._read(action) as connection:
            return [(*row[:-1], int(row[-1])) for row in connection.execute(query)]

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
        # Eight plain columns per row: the pages read a day of windows of a hundred endpoints,
        # or a month of a few, and whole rollups (some forty columns and a JSON object each)
        # would cost several times as much. The outcomes are read only where the counted
        # probes cannot be told from the successes and the uptime: a window of no success.
        r = rollups_table.c
        query = select(
            r.endpoint,
            r.window_start,
            r.probes,
            r.successes,
            r.uptime_ratio,
            r.ttft_p50,
            r.ttft_p95,
            r.speed_p50,
            case((r.uptime_ratio == 0, r.outcomes), else_=null()).label("outcomes"),
        ).where(r.window_seconds == window_seconds, r.probes > 0)
        query = _in_range(query, r.window_start, since, until)
        if model is not None:
            query = query.where(r.model == model)
        if endpoints is None:
            queries = [query]
        else:
            wanted = sorted(set(endpoints))
            # A bounded IN list per statement: every database takes a few hundred parameters.
            queries = [
                query.where(r.endpoint.in_(wanted[i : i + _IN_CHUNK]))
                for i in range(0, len(wanted), _IN_CHUNK)
            ]
        fetched: list[Any] = []
        with self._read("read window points") as connection:
            for statement in queries:
                fetched.extend(connection.execute(statement).all())
        points = []
        for (
            endpoint,
            start,
            probes_,
            successes,
            uptime,
            ttft50,
            ttft95,
            speed50,
            outcomes,
        ) in fetched:
            if uptime is None:
                counted = 0
            elif successes:
                counted = round(successes / uptime)
            else:
                counted = sum(
                    int(n)
                    for k, n in (outcomes or {}).items()
                    if k in OUTCOMES
                    and counts_as_down(OUTCOMES[k], rate_limited_is_down=rate_limited_is_down)
                )
            points.append(
                WindowPoint(
                    endpoint, start, probes_, successes, counted, uptime, ttft50, ttft95, speed50
                )
            )
        # Sorted here rather than in SQL: the databases' collations order text differently.
        points.sort(key=lambda p: (p.endpoint, p.window_start))
        return points

    def rollup_window_starts(
        self, window_seconds: int, *, until: datetime, limit: int
    ) -> list[datetime]:
        """The starts of the newest ``limit`` windows before ``until`` that have a rollup of at
        least one probe, newest first."""
        if limit <= 0:
            raise ValueError(f"limit must be positive, not {limit}")
        # Hop back from window to window through the (window_seconds, window_start) index (a
        # recursive CTE): each step is one index lookup, however many endpoints a window has
        # and however long the history is.

        def newest_before(bound: datetime | ColumnElement[Any]) -> Any:
            older = rollups_table.alias("older")
            return (
                select(older.c.window_start)
                .where(
                    older.c.window_seconds == window_seconds,
                    older.c.probes > 0,
                    older.c.window_start < bound,
                )
                .order_by(older.c.window_start.desc())
                .limit(1)
                .scalar_subquery()
            )

        starts = select(newest_before(until).label("start"), literal(1).label("n")).cte(
            "starts", recursive=True
        )
        starts = starts.union_all(
            select(newest_before(starts.c.start), starts.c.n + 1).where(
                starts.c.start.is_not(None), starts.c.n < limit
            )
        )
        query = select(starts.c.start).where(starts.c.start.is_not(None))
        with self._read("read rollup windows") as connection:
            found = list(connection.execute(query).scalars())
        return sorted(found, reverse=True)

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
        row = {
            "model": model,
            "window_seconds": window_seconds,
            "window_start": window_start,
            "refreshed_at": refreshed_at,
            "live": live,
        }
        with self._write("store the model profile") as connection:
            connection.execute(dialects.upsert(self._dialect, model_profiles, _PROFILE_KEY), [row])

    # Incidents

    def upsert_incidents(self, incidents: Sequence[Incident]) -> None:
        """Insert incidents, or replace the stored ones of the same endpoint and start."""
        if not incidents:
            return
        rows = [incident_to_row(i) for i in incidents]
        statement = dialects.upsert(self._dialect, incidents_table, ("endpoint", "started_at"))
        with self._write("store incidents") as connection:
            connection.execute(statement, rows)

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
        """Incidents that overlap [since, until), newest start first (see ``Store``)."""
        table = incidents_table
        query = select(table)
        if endpoint is not None:
            query = query.where(table.c.endpoint == endpoint)
        if model is not None:
            query = query.where(table.c.model == model)
        if until is not None:
            query = query.where(table.c.started_at < until)
        if since is not None:
            query = query.where(or_(table.c.ended_at.is_(None), table.c.ended_at > since))
        if open_only is True:
            query = query.where(table.c.ended_at.is_(None))
        elif open_only is False:
            query = query.where(table.c.ended_at.is_not(None))
        query = query.order_by(table.c.started_at.desc(), table.c.endpoint)
        if limit is not None:
            query = query.limit(limit)
        with self._read("read incidents") as connection:
            rows = connection.execute(query).mappings().all()
        return [row_to_incident(row) for row in rows]

    def profiles(
        self,
        model: str,
        *,
        window_seconds: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The model's ``live`` snapshots of windows starting in [since, until), oldest first."""
        query = self._profile_query(model, window_seconds)
        query = _in_range(query, model_profiles.c.window_start, since, until)
        query = query.order_by(model_profiles.c.window_start)
        with self._read("read model profiles") as connection:
            return list(connection.execute(query).scalars())

    def latest_profile(self, model: str, window_seconds: int) -> dict[str, Any] | None:
        """The model's ``live`` snapshot of its newest window, or None."""
        query = self._profile_query(model, window_seconds)
        query = query.order_by(model_profiles.c.window_start.desc()).limit(1)
        with self._read("read the model profile") as connection:
            live: dict[str, Any] | None = connection.execute(query).scalar_one_or_none()
            return live

    @staticmethod
    def _profile_query(model: str, window_seconds: int) -> Select[tuple[Any]]:
        return select(model_profiles.c.live).where(
            model_profiles.c.model == model, model_profiles.c.window_seconds == window_seconds
        )

    # Life cycle

    # Agents and leases

    def _now(self, connection: Connection) -> datetime:
        """The store's clock: the server's on PostgreSQL (the one clock every agent shares),
        this process's on SQLite (only one agent uses an SQLite file)."""
        if self._dialect == "postgresql":
            moment: datetime = connection.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
            return moment.astimezone(UTC)
        return datetime.now(UTC)

    def db_now(self) -> datetime:
        """The store's clock now."""
        with self._read("read the store's clock") as connection:
            return self._now(connection)

    def heartbeat(self, record: AgentRecord) -> datetime:
        """Write ``record`` as its agent's row, ``last_seen`` set to the store's clock; return
        that moment."""
        with self._write("record the agent's heartbeat") as connection:
            now = self._now(connection)
            row = {**asdict(record), "last_seen": now}
            connection.execute(dialects.upsert(self._dialect, agents_table, ("agent",)), [row])
        return now

    def agents(self) -> list[AgentRecord]:
        """Every agent that ever sent a heartbeat, by location then name."""
        query = select(agents_table).order_by(agents_table.c.location, agents_table.c.agent)
        with self._read("read the agents") as connection:
            return [AgentRecord(**row) for row in connection.execute(query).mappings()]

    def lease(self, name: str) -> Lease | None:
        """The lease ``name`` as stored, if it was ever taken."""
        query = select(leases_table).where(leases_table.c.name == name)
        with self._read("read a lease") as connection:
            row = connection.execute(query).mappings().first()
        return Lease(**row) if row is not None else None

    def acquire_lease(self, name: str, holder: str, seconds: float) -> tuple[Lease, datetime]:
        """Take the lease ``name`` for ``seconds`` by the store's clock if it is free, expired
        or already ``holder``'s (then it is renewed, same epoch); return the lease as it is
        after the attempt (another agent may hold it) and the store's clock then."""
        table = leases_table
        with self._write("take a lease") as connection:
            connection.execute(
                dialects.insert(self._dialect, table).on_conflict_do_nothing(
                    index_elements=["name"]
                ),
                [{"name": name, "holder": None, "epoch": 0}],
            )
            now = self._now(connection)
            mine = table.c.holder == holder
            taken_now = literal(now, UTCDateTime())
            connection.execute(
                update(table)
                .where(
                    table.c.name == name,
                    mine | table.c.holder.is_(None) | (table.c.expires_at <= now),
                )
                .values(
                    holder=holder,
                    epoch=case((mine, table.c.epoch), else_=table.c.epoch + 1),
                    acquired_at=case((mine, table.c.acquired_at), else_=taken_now),
                    expires_at=now + timedelta(seconds=seconds),
                )
            )
            row = connection.execute(select(table).where(table.c.name == name)).mappings().one()
        return Lease(**row), now

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up now if ``holder`` has it, so another agent need not wait for it
        to expire."""
        table = leases_table
        with self._write("release a lease") as connection:
            now = self._now(connection)
            connection.execute(
                update(table)
                .where(table.c.name == name, table.c.holder == holder)
                .values(expires_at=now)
            )

    def mark_windows(self, window_seconds: int, starts: Iterable[datetime]) -> None:
        """Mark windows to roll up again (an agent that is not the rollup leader wrote probes
        into them); a window marked again gets the newer mark."""
        table = dirty_table
        with self._write("mark windows to roll up") as connection:
            now = self._now(connection)
            rows = [
                {"window_seconds": window_seconds, "window_start": start, "marked_at": now}
                for start in sorted(set(starts))
            ]
            if rows:
                statement = dialects.insert(self._dialect, table)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["window_seconds", "window_start"],
                        set_={"marked_at": statement.excluded.marked_at},
                    ),
                    rows,
                )

    def dirty_windows(
        self, window_seconds: int, until: datetime | None = None
    ) -> dict[datetime, datetime]:
        """The marked windows that start before ``until`` (all without it): start to mark."""
        table = dirty_table
        query = select(table.c.window_start, table.c.marked_at).where(
            table.c.window_seconds == window_seconds
        )
        if until is not None:
            query = query.where(table.c.window_start < until)
        with self._read("read the windows to roll up") as connection:
            return {row.window_start: row.marked_at for row in connection.execute(query)}

    def clear_dirty_windows(self, window_seconds: int, seen: Mapping[datetime, datetime]) -> None:
        """Delete the marks in ``seen`` (start to mark, as ``dirty_windows`` gave them) unless a
        newer mark replaced one since: that window is rolled up again next time."""
        table = dirty_table
        with self._write("clear rolled-up windows") as connection:
            for start, marked in seen.items():
                connection.execute(
                    delete(table).where(
                        table.c.window_seconds == window_seconds,
                        table.c.window_start == start,
                        table.c.marked_at <= marked,
                    )
                )

    def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers."""
        with self._read("reach the database") as connection:
            connection.exec_driver_sql("SELECT 1").scalar_one()

    def close(self) -> None:
        """Release every connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()


_Query = TypeVar("_Query", bound=Select[Any])


def _default_kind(table: Table | Any) -> ColumnElement[bool]:
    """Probes of the default kind (``kind`` NULL: stored before kinds existed). Only they count
    for the rollups, uptime, incidents and an endpoint's state (docs/design.md#probe-kinds)."""
    column = table.c.kind
    return or_(column.is_(None), column == DEFAULT_KIND)


def _in_range(
    query: _Query,
    column: ColumnElement[datetime],
    since: datetime | ColumnElement[Any] | None,
    until: datetime | ColumnElement[Any] | None,
) -> _Query:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def _stored_endpoints() -> CTE:
    """The endpoint ids of the stored probes as a recursive CTE (column ``endpoint``, one row
    of NULL at the end): a loose index scan that hops from one endpoint to the next in the
    (endpoint, started_at) index, so its cost grows with the endpoints, not the probes."""
    inner = probes.alias("inner")
    endpoints = select(func.min(probes.c.endpoint).label("endpoint")).cte(
        "endpoints", recursive=True
    )
    following = (
        select(func.min(inner.c.endpoint))
        .where(inner.c.endpoint > endpoints.c.endpoint)
        .scalar_subquery()
    )
    return endpoints.union_all(select(following).where(endpoints.c.endpoint.is_not(None)))
