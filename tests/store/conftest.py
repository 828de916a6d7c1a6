"""Fixtures: every store test runs on a SQLite file and on a PostgreSQL database.

PostgreSQL comes from ``$LLM_MONITOR_TEST_POSTGRES_URL`` (default: the local server with trust
auth). The session creates a uniquely named database there and drops it at the end; each test
starts from an empty ``public`` schema. Without a server the PostgreSQL cases are skipped with the
reason, unless ``LLM_MONITOR_REQUIRE_POSTGRES=1`` (set by CI), which makes them fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, make_url

from monitor.store import SQLStore, open_store
from tests.postgres import POSTGRES_ADMIN_URL, create_database, drop_database, libpq_url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at its end."""
    try:
        url = create_database("llm_monitor_test_")
    except psycopg.Error as exc:
        reason = f"no PostgreSQL at {make_url(POSTGRES_ADMIN_URL)!r}: {exc}"
        if os.environ.get("LLM_MONITOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (LLM_MONITOR_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)
    try:
        yield url
    finally:
        drop_database(url)


def _empty_postgres_schema(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres_schema(url)
    return url


@pytest.fixture
def new_store(store_url: str) -> Iterator[SQLStore]:
    """A store on an empty database, before any migration."""
    store = open_store(store_url)
    assert isinstance(store, SQLStore)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(new_store: SQLStore) -> SQLStore:
    """A store migrated to head."""
    new_store.upgrade()
    return new_store


@pytest.fixture
def database(store_url: str) -> Iterator[Engine]:
    """A plain engine on the store's database, to look behind the store's back."""
    engine = create_engine(store_url)
    try:
        yield engine
    finally:
        engine.dispose()
