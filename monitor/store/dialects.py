"""The SQL that differs between SQLite and PostgreSQL: ON CONFLICT inserts and window arithmetic.

Timestamps are microseconds since the epoch on SQLite and ``timestamptz`` on PostgreSQL (see
``monitor.store.schema.UTCDateTime``), so window bucketing is integer arithmetic on one and
``date_bin`` on the other; both give exactly ``monitor.rollup.window_start``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Insert, Table, func, literal, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store.schema import EPOCH, UTCDateTime


def insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ``ON CONFLICT`` on the named dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table)
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
    """SQL for ``monitor.rollup.window_start`` of a timestamp expression."""
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


def _interval(seconds: int) -> ColumnElement[Any]:
    # make_interval(years, months, weeks, days, hours, mins, secs)
    return func.make_interval(0, 0, 0, 0, 0, 0, seconds)
