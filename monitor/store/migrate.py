"""Alembic, driven from code: the migrations ship inside the package and need no ``alembic.ini``.

Alembic is imported only to migrate: a command that only reads compares the database's
revision (read with plain SQL) with ``HEAD_REVISION`` and loads nothing else (a test keeps the
constant equal to the head of the packaged migrations).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from monitor.core.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: The newest revision in ``MIGRATIONS_DIR``; a new migration must update it (a test checks).
HEAD_REVISION = "0010"

#: Alembic's table holding the database's revision (its default name).
VERSION_TABLE = "alembic_version"

# Serialises concurrent upgrades of one PostgreSQL database (two daemons starting together).
_POSTGRES_UPGRADE_LOCK = 0x6C6C6D2D6D6F6E


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, bound to ``connection`` if given."""
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolation would read a '%' in the install path as a reference.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the packaged migrations know."""
    return HEAD_REVISION


def scripts_head_revision() -> str:
    """The head revision as Alembic finds it in the migration scripts (what ``HEAD_REVISION``
    must equal)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    # What Alembic's MigrationContext.get_current_revision reads, without importing Alembic.
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    if len(found) > 1:
        raise StoreError(
            f"the database has {len(found)} schema revisions ({', '.join(sorted(found))}) "
            "where llm-monitor writes one"
        )
    return found[0] if found else None


def upgrade(connection: Connection) -> None:
    """Migrate the database to head inside the connection's transaction, refusing newer schemas."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_UPGRADE_LOCK}
        )
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in script.walk_revisions()}
    for current in MigrationContext.configure(connection).get_current_heads():
        if current not in known:
            raise StoreError(
                f"database schema is at revision {current}, newer than this llm-monitor "
                f"(head {script.get_current_head()}); upgrade llm-monitor"
            )
    command.upgrade(config, "head")
