"""The local PostgreSQL server the tests use: its admin URL, and databases of their own.

``$LLM_MONITOR_TEST_POSTGRES_URL`` (default: trust auth on 127.0.0.1:5432) names the server;
each fixture that needs PostgreSQL creates a uniquely named database there and drops it after.
"""

from __future__ import annotations

import os
import time
import uuid

import psycopg
from psycopg import sql
from sqlalchemy import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "LLM_MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def libpq_url(url: str) -> str:
    """The libpq connection URI of a SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(prefix: str) -> str:
    """Create a database named ``prefix`` + a random suffix; return its SQLAlchemy URL.

    Raises ``psycopg.Error`` when no server answers."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(POSTGRES_ADMIN_URL), autocommit=True, connect_timeout=5) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database of ``url``, over a new connection (the reliability tests restart the
    server, which ends older ones), trying for ten seconds while the server comes back."""
    name = make_url(url).database
    assert name is not None
    for _ in range(20):
        try:
            with psycopg.connect(
                libpq_url(POSTGRES_ADMIN_URL), autocommit=True, connect_timeout=5
            ) as db:
                db.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            return
        except psycopg.OperationalError:
            time.sleep(0.5)
