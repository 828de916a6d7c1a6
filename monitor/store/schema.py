"""The store's tables (SQLAlchemy Core) and the UTC timestamp column type they share.

The migrations in ``monitor/store/migrations`` create exactly these tables; a test compares the
migrated database with this metadata, so the two cannot drift apart.

Timestamps are ``UTCDateTime``: aware UTC datetimes in Python, ``TIMESTAMP WITH TIME ZONE`` on
PostgreSQL and a 64-bit count of microseconds since the Unix epoch on SQLite (exact, sortable,
so range queries use the indexes; read it in the ``sqlite3`` shell with
``strftime('%Y-%m-%d %H:%M:%f', started_at / 1e6, 'unixepoch')``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_epoch_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    return (moment - EPOCH) // _MICROSECOND


def from_epoch_micros(micros: int) -> datetime:
    """The aware UTC datetime of a count of microseconds since the Unix epoch."""
    return EPOCH + timedelta(microseconds=micros)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, to the microsecond, on every dialect; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """BIGINT microseconds on SQLite, TIMESTAMP WITH TIME ZONE elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Refuse naive datetimes, which would be silently misread as some local time."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the store needs aware UTC")
        if dialect.name == "sqlite":
            return to_epoch_micros(value)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Aware UTC whatever the session time zone of the connection."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_epoch_micros(int(value))
        moment: datetime = value
        return moment.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One column per ProbeResult field, same names, same order. Text columns have no length limit:
# some values (finish_reason, response_model, provider_request_id) come from the provider, and
# a long one must not make a probe unstorable.
probes = Table(
    "probes",
    metadata,
    Column("probe_id", String(), primary_key=True),
    Column("endpoint", String(), nullable=False),
    Column("provider", String(), nullable=False),
    Column("model", String(), nullable=False),
    Column("api", String(), nullable=False),
    Column("region", String()),
    Column("outcome", String(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("http_status", Integer),
    Column("ttft_seconds", Double),
    Column("total_seconds", Double),
    Column("first_byte_seconds", Double),
    Column("output_tokens", BigInteger),
    Column("input_tokens", BigInteger),
    Column("reasoning_tokens", BigInteger),
    Column("cached_input_tokens", BigInteger),
    Column("tokens_estimated", Boolean, nullable=False),
    Column("output_tokens_per_second", Double),
    Column("inter_token_latency_seconds", Double),
    Column("content_chunks", BigInteger, nullable=False),
    Column("connect_seconds", Double),
    Column("connection_reused", Boolean),
    Column("finish_reason", String()),
    Column("response_model", String()),
    Column("provider_request_id", String()),
    Column("retry_after_seconds", Double),
    Column("cost_usd", Double),
    Column("error", Text),
    # Added by revision 0002, hence last; NULL in rows written before it.
    Column("duration_seconds", Double),
    # Who probed and from where (0003).
    Column("agent", String()),
    Column("location", String()),
    # Time to first answer token (0006).
    Column("answer_ttft_seconds", Double),
    # The probe kind (0009); NULL in rows written before it, which are all of the default kind.
    Column("kind", String()),
    # Where the arrival times came from, and whether the first token queued (0010).
    Column("stamp_source", String()),
    Column("first_token_queued", Boolean),
    Index(None, "started_at"),
    Index(None, "endpoint", "started_at"),
)

#: The three distributions of a rollup, each flattened into ``<prefix>_<statistic>`` columns.
DISTRIBUTIONS = ("ttft", "speed", "latency", "answer_ttft")
DISTRIBUTION_STATS = ("p50", "p90", "p95", "p99", "min", "max", "mean")


def _distribution_columns(prefix: str, *, added: bool = False) -> list[Column[Any]]:
    # A distribution added by a later revision counts 0 in the rows written before it.
    default = text("0") if added else None
    return [Column(f"{prefix}_count", BigInteger, nullable=False, server_default=default)] + [
        Column(f"{prefix}_{stat}", Double) for stat in DISTRIBUTION_STATS
    ]


# ``outcomes`` is a JSON object (outcome value -> count) rather than one column per outcome:
# the set of outcomes is open (``cancelled`` was added after the first ones), a new one must
# not need a migration, nothing filters or sums a single outcome in SQL, and plain JSON (not
# JSONB) gives the mapping back exactly as written.
rollups = Table(
    "rollups",
    metadata,
    Column("endpoint", String(), primary_key=True),
    Column("window_seconds", Integer, primary_key=True),
    Column("window_start", UTCDateTime(), primary_key=True),
    Column("model", String(), nullable=False),
    Column("provider", String(), nullable=False),
    Column("region", String()),
    Column("probes", BigInteger, nullable=False),
    Column("successes", BigInteger, nullable=False),
    Column("outcomes", JSON, nullable=False),
    Column("uptime_ratio", Double),
    *_distribution_columns("ttft"),
    *_distribution_columns("speed"),
    *_distribution_columns("latency"),
    Column("output_tokens", BigInteger, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cost_usd", Double, nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
    # Across locations (0005): how many locations probed, and the quorum's slots when more
    # than one did (docs/design.md#quorum-uptime).
    Column("locations", BigInteger, nullable=False, server_default=text("1")),
    Column("slots_up", BigInteger),
    Column("slots_down", BigInteger),
    # Time to first answer token of the successful probes (0008).
    *_distribution_columns("answer_ttft", added=True),
    Index(None, "model", "window_seconds", "window_start"),
    Index(None, "window_seconds", "window_start"),
)

# One location's rollup of an endpoint's window (0005), beside the rollup across locations.
location_rollups = Table(
    "location_rollups",
    metadata,
    Column("endpoint", String(), primary_key=True),
    Column("window_seconds", Integer, primary_key=True),
    Column("window_start", UTCDateTime(), primary_key=True),
    Column("location", String(), primary_key=True),
    Column("model", String(), nullable=False),
    Column("provider", String(), nullable=False),
    Column("region", String()),
    Column("probes", BigInteger, nullable=False),
    Column("successes", BigInteger, nullable=False),
    Column("outcomes", JSON, nullable=False),
    Column("uptime_ratio", Double),
    *_distribution_columns("ttft"),
    *_distribution_columns("speed"),
    *_distribution_columns("latency"),
    Column("output_tokens", BigInteger, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cost_usd", Double, nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
    *_distribution_columns("answer_ttft", added=True),  # 0008
    Index(None, "window_seconds", "window_start"),
)

model_profiles = Table(
    "model_profiles",
    metadata,
    Column("model", String(), primary_key=True),
    Column("window_seconds", Integer, primary_key=True),
    Column("window_start", UTCDateTime(), primary_key=True),
    Column("refreshed_at", UTCDateTime(), nullable=False),
    Column("live", JSON, nullable=False),
)

# Agents and leases (0004): several agents share one PostgreSQL store (docs/design.md#agents).
agents = Table(
    "agents",
    metadata,
    Column("agent", String(), primary_key=True),
    Column("location", String(), nullable=False),
    Column("host", String(), nullable=False),
    Column("pid", BigInteger, nullable=False),
    Column("version", String(), nullable=False),
    Column("config_hash", String(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("clock_offset_seconds", Double),
    Column("endpoints", BigInteger, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(), primary_key=True),
    Column("holder", String()),
    Column("epoch", BigInteger, nullable=False),
    Column("acquired_at", UTCDateTime()),
    Column("expires_at", UTCDateTime()),
)

# Windows that agents other than the rollup leader wrote probes into: the leader rolls them up
# again and deletes the marks it has seen (0004).
dirty_windows = Table(
    "dirty_windows",
    metadata,
    Column("window_seconds", Integer, primary_key=True),
    Column("window_start", UTCDateTime(), primary_key=True),
    Column("marked_at", UTCDateTime(), nullable=False),
)

# Incidents (0007): keyed by endpoint and start, fixed when one opens, so judging the same
# probes again upserts the same row (docs/design.md#incidents). ``ended_at`` is NULL while open.
incidents = Table(
    "incidents",
    metadata,
    Column("endpoint", String(), primary_key=True),
    Column("started_at", UTCDateTime(), primary_key=True),
    Column("model", String(), nullable=False),
    Column("provider", String(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Column("checked_at", UTCDateTime(), nullable=False),
    Column("last_down_at", UTCDateTime(), nullable=False),
    Column("down_slots", BigInteger, nullable=False),
    Column("outcomes", JSON, nullable=False),
    Column("first_error", Text),
    Column("last_error", Text),
    Index(None, "started_at"),
    Index(None, "ended_at"),
)
