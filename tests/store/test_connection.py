"""URLs, reachability and errors: always a StoreError naming the URL, never a password."""

from __future__ import annotations

import sqlite3
import sys
import time
import traceback
from contextlib import closing
from pathlib import Path

import pytest

from monitor.core.errors import StoreError
from monitor.store import SQLStore, open_store

from .factories import make_probe

PASSWORD = "s3cret-Pw0rd"


def test_ping_answers_on_a_reachable_store(store: SQLStore) -> None:
    store.ping()


def test_ping_of_an_unreachable_postgres_raises_store_error_naming_the_url() -> None:
    store = open_store(f"postgresql+psycopg://monitor:{PASSWORD}@127.0.0.1:1/monitor")
    try:
        with pytest.raises(StoreError) as caught:
            store.ping()
    finally:
        store.close()

    message = str(caught.value)
    assert message.startswith("cannot reach the database at ")
    assert "postgresql+psycopg://monitor:***@127.0.0.1:1/monitor" in message
    assert "\n" not in message
    assert PASSWORD not in "".join(traceback.format_exception(caught.value))


def test_sqlite_file_in_a_missing_directory_raises_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'monitor.db'}"
    store = open_store(url)
    try:
        with pytest.raises(StoreError, match=f"at {url}: unable to open database file"):
            store.ping()
        with pytest.raises(StoreError, match="cannot upgrade the schema"):
            store.upgrade()
    finally:
        store.close()


def test_url_never_shows_the_password() -> None:
    store = open_store(f"postgresql+psycopg://monitor:{PASSWORD}@db.example:5432/monitor")
    try:
        assert store.url == "postgresql+psycopg://monitor:***@db.example:5432/monitor"
        assert PASSWORD not in repr(store)
    finally:
        store.close()


def test_bare_postgresql_url_uses_psycopg() -> None:
    store = open_store("postgresql://monitor@db.example/monitor")
    try:
        assert store.url == "postgresql+psycopg://monitor@db.example/monitor"
    finally:
        store.close()


def test_postgres_url_without_psycopg_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail

    with pytest.raises(StoreError) as caught:
        open_store(f"postgresql+psycopg://monitor:{PASSWORD}@db.example/monitor")

    assert "pip install 'llm-endpoint-monitor[postgres]'" in str(caught.value)
    assert "postgresql+psycopg://monitor:***@db.example/monitor" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_unsupported_database_is_refused_without_the_password() -> None:
    with pytest.raises(StoreError, match="unsupported storage URL") as caught:
        open_store(f"mysql://monitor:{PASSWORD}@db.example/monitor")

    assert PASSWORD not in str(caught.value)


def test_text_that_is_not_a_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(StoreError, match="not a database URL") as caught:
        open_store(f"monitor {PASSWORD}")

    assert PASSWORD not in str(caught.value)


def test_a_closed_store_refuses_to_work(new_store: SQLStore) -> None:
    new_store.close()

    with pytest.raises(StoreError, match="closed"):
        new_store.ping()


def test_sqlite_store_is_a_write_ahead_log_database(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.upgrade()
    finally:
        store.close()

    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_writers_wait_the_urls_timeout_for_a_lock_then_fail(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    store = open_store(f"sqlite:///{path}?timeout=0.2")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        store.upgrade()
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        began = time.monotonic()
        with pytest.raises(StoreError, match=r"cannot store probes at .*: database is locked"):
            store.add_probes([make_probe()])
        assert 0.15 < time.monotonic() - began < 2.0
        holder.rollback()
        assert store.add_probes([make_probe()]) == 1  # the lock is gone: writes work again
    finally:
        holder.close()
        store.close()


def test_sqlite_busy_timeout_is_ten_seconds_unless_the_url_says_otherwise(tmp_path: Path) -> None:
    for url, expected in ((f"sqlite:///{tmp_path / 'a.db'}", 10_000),
                          (f"sqlite:///{tmp_path / 'b.db'}?timeout=2.5", 2_500)):  # fmt: skip
        store = open_store(url)
        assert isinstance(store, SQLStore)
        try:
            with store._engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == expected
        finally:
            store.close()


@pytest.mark.parametrize("value", ["soon", "-1", "99999"])
def test_a_sqlite_timeout_that_is_not_a_sane_number_of_seconds_is_refused(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(StoreError, match="timeout must be"):
        open_store(f"sqlite:///{tmp_path / 'm.db'}?timeout={value}")
