"""Fixtures: a PostgreSQL database of the test's own, and the cluster's control command.

The database is created on the local server (``$LLM_MONITOR_TEST_POSTGRES_URL``, default trust
auth on 127.0.0.1:5432) and dropped afterwards. Without a server the test is skipped with the
reason, unless ``LLM_MONITOR_REQUIRE_POSTGRES=1`` (CI), which makes it fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from tests.postgres import POSTGRES_ADMIN_URL, create_database, drop_database

from .harness import unavailable

_REQUIRED = "LLM_MONITOR_REQUIRE_POSTGRES"


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped at the end."""
    try:
        url = create_database("llm_monitor_reliability_")
    except psycopg.Error as exc:
        unavailable(f"no PostgreSQL at {make_url(POSTGRES_ADMIN_URL)!r}: {exc}", _REQUIRED)
    try:
        yield url
    finally:
        drop_database(url)  # the server may just be coming back from a restart


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
