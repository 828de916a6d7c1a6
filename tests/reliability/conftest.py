"""Fixtures: a PostgreSQL database of the test's own, and the cluster's control command.

The database is created on the local server (``$LLM_MONITOR_TEST_POSTGRES_URL``, default trust
auth on 127.0.0.1:5432) and dropped afterwards. Without a server the test is skipped with the
reason, unless ``LLM_MONITOR_REQUIRE_POSTGRES=1`` (CI), which makes it fail.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

from .harness import unavailable

_REQUIRED = "LLM_MONITOR_REQUIRE_POSTGRES"
POSTGRES_ADMIN_URL = os.environ.get(
    "LLM_MONITOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped at the end."""
    name = f"llm_monitor_reliability_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True, connect_timeout=5) as db:
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        unavailable(f"no PostgreSQL at {make_url(POSTGRES_ADMIN_URL)!r}: {exc}", _REQUIRED)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        # The server may just be coming back from a restart: give it a few tries.
        for _ in range(20):
            try:
                with psycopg.connect(
                    _libpq(POSTGRES_ADMIN_URL), autocommit=True, connect_timeout=5
                ) as db:
                    db.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
                break
            except psycopg.OperationalError:
                time.sleep(0.5)


@pytest.fixture
def pg_cluster() -> list[str]:
    """``pg_ctlcluster ... VERSION main`` of the local server (without the action), for a test
    that stops and starts it; skipped where the command or the cluster is not there."""
    control = shutil.which("pg_ctlcluster")
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*") if p.is_dir())
    if control is None or not versions or os.geteuid() != 0:
        unavailable(
            "restarting PostgreSQL needs pg_ctlcluster, a local cluster and root", _REQUIRED
        )
    assert control is not None
    return [control, "--skip-systemctl-redirect", versions[-1], "main"]
