"""The SQL that differs between SQLite and PostgreSQL: ON CONFLICT inserts, window arithmetic
and the entries of a JSON object.

Timestamps are microseconds since the epoch on SQLite and ``timestamptz`` on PostgreSQL (see
``monitor.store.schema.UTCDateTime``), so window bucketing is integer arithmetic on one and
``date_bin`` on the other; both give exactly ``monitor.core.rollup.window_start``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Insert,
    Table,
    TableValuedAlias,
    cast,
    func,
    literal,
    type_coerce,
)

from monitor.store.schema import EPOCH, UTCDateTime, to_epoch_micros

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``ON CONFLICT`` on the named dialect."""
    # Imported here: a command that only reads never loads the other database's dialect.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def upsert(dialect: str, table: Table, key: Sequence[str]) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE of every other column."""
    statement = insert(dialect, table)
    updates = {
        column.name: statement.excluded[column.name]
        for column in table.columns
        if column.name not in key
    }
    return statement.on_conflict_do_update(index_elements=list(key), set_=updates)


def window_start(dialect: str, moment: ColumnElement[Any], seconds: int) -> ColumnElement[Any]:
    """SQL for ``monitor.core.rollup.window_start`` of a timestamp expression."""
    start: ColumnElement[Any]
    if dialect == "postgresql":
        start = func.date_bin(_interval(seconds), moment, literal(EPOCH, UTCDateTime()))
    else:
        micros = type_coerce(moment, BigInteger())
        size = seconds * 1_000_000
        # Floor, not truncation, so that times before 1970 land in the right window too.
        start = micros - ((micros % size) + size) % size
    return type_coerce(start, UTCDateTime())


def window_end(dialect: str, start: ColumnElement[Any], seconds: int) -> ColumnElement[Any]:
    """SQL for the end of the window of ``seconds`` starting at ``start``."""
    end: ColumnElement[Any]
    if dialect == "postgresql":
        end = start + _interval(seconds)
    else:
        end = type_coerce(start, BigInteger()) + seconds * 1_000_000
    return type_coerce(end, UTCDateTime())


def seconds_since(dialect: str, moment: ColumnElement[Any], since: datetime) -> ColumnElement[Any]:
    """SQL for the seconds from ``since`` to a timestamp expression, as a float: cheaper to
    read than the timestamp itself when only the offset is needed (the quorum's slots)."""
    if dialect == "postgresql":
        # extract() gives numeric (a Decimal in Python): make it a float on the server.
        return cast(func.extract("epoch", moment - literal(since, UTCDateTime())), Double())
    micros = type_coerce(moment, BigInteger())
    return (micros - to_epoch_micros(since)) / 1_000_000.0


def _interval(seconds: int) -> ColumnElement[Any]:
    # make_interval(years, months, weeks, days, hours, mins, secs)
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def json_entries(dialect: str, column: ColumnElement[Any], name: str) -> TableValuedAlias:
    """The (``key``, ``value``) rows of the JSON object in ``column``, one per member, to join
    with its table; ``value`` is text on PostgreSQL (``json_each_text``) and the JSON scalar
    on SQLite (``json_each``): cast it to the type expected."""
    each = func.json_each_text(column) if dialect == "postgresql" else func.json_each(column)
    return each.table_valued("key", "value", name=name)
