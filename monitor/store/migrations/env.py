"""Alembic environment: run the migrations on the store's connection, or on a URL from the CLI.

``Store.upgrade()`` passes its open connection in ``config.attributes["connection"]`` (one
transaction, already checked for a newer schema). The ``alembic`` command line works too, for
writing new revisions: ``alembic -x url=sqlite:///monitor.db upgrade head`` from the repository
root (see ``alembic.ini``), with the same engine settings the store uses.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from monitor.store.engine import create_store_engine, parse_url
from monitor.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///monitor.db ...")
    return url


def _run_offline() -> None:
    context.configure(url=parse_url(_url()), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_store_engine(parse_url(_url()))
    try:
        with engine.connect() as owned:
            _run(owned)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
