"""Alembic, driven from code: the migrations ship inside the package and need no ``alembic.ini``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from monitor.errors import StoreError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Serialises concurrent upgrades of one PostgreSQL database (two daemons starting together).
_POSTGRES_UPGRADE_LOCK = 0x6C6C6D2D6D6F6E


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the packaged migrations, bound to ``connection`` if given."""
    config = Config()
    # ConfigParser interpolation would read a '%' in the install path as a reference.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the packaged migrations know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection) -> None:
    """Migrate the database to head inside the connection's transaction, refusing newer schemas."""
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
