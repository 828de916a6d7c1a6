"""Engines for the two supported databases, and database errors turned into ``StoreError``.

SQLite (``sqlite:///monitor.db``) needs no set-up: each connection turns on WAL,
``synchronous=NORMAL``, a busy timeout (10 s, or the URL's ``?timeout=SECONDS``, the
``sqlite3`` module's own parameter) and foreign keys. SQLAlchemy emits ``BEGIN`` itself
(the ``sqlite3`` module's own transaction handling is switched off) so that DDL is transactional
for the migrations and writers take the write lock up front with ``BEGIN IMMEDIATE``: a writer
then waits for the busy timeout instead of failing on a lock upgrade.

PostgreSQL (``postgresql+psycopg://user@host/db``) uses psycopg 3; a bare ``postgresql://`` URL
is read as psycopg too, since psycopg2 is not a dependency.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from monitor.core.errors import StoreError

#: Execution option that marks a connection whose transaction will write.
WRITE_OPTION = "llm_monitor_write"

SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_CONNECT_TIMEOUT_S = 10

_SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
_POSTGRES_EXTRA = "pip install 'llm-endpoint-monitor[postgres]'"


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL of a storage URL, refusing databases the store does not support."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The message leaves the text out: it may hold a password.
        raise StoreError(f"storage URL is not a database URL; expected {_SUPPORTED}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StoreError(
            f"unsupported storage URL {safe_url(parsed)}: the store supports {_SUPPORTED}"
        )
    return parsed


def safe_url(url: URL) -> str:
    """The URL as text with any password masked."""
    return url.render_as_string(hide_password=True)


def create_store_engine(url: URL) -> Engine:
    """A thread-safe engine for ``url`` (see ``parse_url``), configured for the store."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return _postgres_engine(url)
    except ImportError as exc:
        raise StoreError(
            f"cannot use {safe_url(url)}: the PostgreSQL driver psycopg is not installed "
            f"({exc}); {_POSTGRES_EXTRA}"
        ) from exc


def sqlite_busy_timeout_ms(url: URL) -> int:
    """How long a SQLite writer waits for a lock: the URL's ``timeout`` (seconds) if given."""
    given = url.query.get("timeout")
    if isinstance(given, tuple):
        given = given[-1]
    if given is None:
        return SQLITE_BUSY_TIMEOUT_MS
    try:
        seconds = float(given)
    except ValueError:
        raise StoreError(
            f"storage URL {safe_url(url)}: timeout must be a number of seconds, not {given!r}"
        ) from None
    if not 0 <= seconds <= 3600:
        raise StoreError(f"storage URL {safe_url(url)}: timeout must be 0 to 3600 seconds")
    return round(seconds * 1000)


def _sqlite_engine(url: URL) -> Engine:
    busy_ms = sqlite_busy_timeout_ms(url)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", functools.partial(_configure_sqlite_connection, busy_ms))
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(busy_ms: int, dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module; _begin_sqlite_transaction emits
    # BEGIN instead (the recipe of SQLAlchemy's SQLite dialect documentation).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Set here, not only through sqlite3.connect(timeout=...), so the default applies too.
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        # Without it an unreachable host blocks /readyz for the TCP timeout (minutes).
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


@contextmanager
def store_errors(url: URL, action: str) -> Iterator[None]:
    """Turn database errors raised inside the block into ``StoreError`` naming the URL."""
    try:
        yield
    except DBAPIError as exc:
        raise StoreError(f"cannot {action} at {safe_url(url)}: {_cause(exc, url)}") from exc
    except StatementError as exc:
        # A bad argument found while binding it (a naive datetime): the caller's error, so
        # give back the caller's exception rather than SQLAlchemy's wrapper.
        if isinstance(exc.orig, ValueError | TypeError):
            raise exc.orig from None
        raise
    except PoolTimeoutError as exc:
        raise StoreError(f"cannot {action} at {safe_url(url)}: {exc}") from exc


def _cause(exc: DBAPIError, url: URL) -> str:
    # The driver's own message without SQLAlchemy's statement, parameters and links, on one
    # line, and without the password should a driver ever echo it.
    text = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
    if url.password:
        text = text.replace(str(url.password), "***")
    return text
