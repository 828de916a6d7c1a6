"""What ``report`` and ``profile`` share: the config or ``--store`` they read, the store
opened for reading (never created at a mistyped path), times and a console for their tables."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.base import EXIT_USAGE, load
from monitor.core.errors import StoreError

if TYPE_CHECKING:
    from rich.console import Console

    from monitor.config import Config
    from monitor.store import Store


@contextlib.contextmanager
def reading_store(config: Config, *, from_option: bool = False) -> Iterator[Store]:
    """The store at ``storage.url`` (or ``--store``), migrated, closed on exit; exit 2 if it
    cannot be used."""
    from monitor.store import open_store  # SQLAlchemy loads only for the commands that read

    url = config.schema.storage.url
    named_by = "--store" if from_option else "storage.url"
    missing = _missing_sqlite_file(url)
    if missing is not None:
        click.echo(
            f"error: no store at {missing} ({named_by} {url}): nothing has been recorded "
            f"there yet; check {named_by} and the directory you run from",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    try:
        store = open_store(url)
    except StoreError as exc:
        click.echo(f"error: cannot open the store: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        # Reading commands only migrate an older store; the usual case skips Alembic's set-up.
        if store.current_revision() != store.head_revision():
            store.upgrade()
        yield store
    except StoreError as exc:
        click.echo(f"error: cannot read the store: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        store.close()


store_option = click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Read this store instead of the config's storage.url (e.g. the demo's --store). "
    "With no config file found, the bundled demo config describes it.",
)


def reading_config(config_path: Path | None, store_url: str | None) -> tuple[Config, bool]:
    """The config of ``report`` and ``profile``, with ``--store`` in place of storage.url, and
    whether it is the bundled demo config (used for a --store when no config file is found:
    the demo's kept store is the one people read without a config of their own)."""
    import dataclasses

    from monitor.config import CONFIG_ENV_VAR, StorageSettings, default_config_path

    if store_url is None:
        return load(config_path, resolve_secrets=False), False
    # A $LLM_MONITOR_CONFIG naming a missing file is an error (from _load), not "no config".
    explicit = config_path is not None or os.environ.get(CONFIG_ENV_VAR, "").strip()
    if not explicit and not default_config_path().exists():
        from monitor.cli.demo import demo_reading_config

        return demo_reading_config(store_url), True
    config = load(config_path, resolve_secrets=False)
    schema = config.schema.model_copy(update={"storage": StorageSettings(url=store_url)})
    return dataclasses.replace(config, schema=schema), False


def check_demo_store(config: Config, store: Store) -> None:
    """Exit 2 when a store read with the bundled demo config holds other endpoints' probes: the
    demo config would report them wrongly, or not at all."""
    known = {e.id for e in config.endpoints}
    others = sorted(set(store.last_probe_times()) - known)
    if others:
        click.echo(
            f"error: {store.url} holds probes of endpoints the demo did not make "
            f"({', '.join(others)}), and no config file describes them: pass --config FILE "
            "(the config its daemon ran with), set $LLM_MONITOR_CONFIG, or run from the "
            "directory of its monitor.yaml",
            err=True,
        )
        sys.exit(EXIT_USAGE)


def _missing_sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL when it does not exist (reading must not create
    an empty database at a mistyped path)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # open_store explains what is wrong with the URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database or "")
    return None if path.exists() else path


def reading_console() -> Console:
    """A console for tables that people read; 120 columns when the output is not a terminal
    (a file or a pipe), where rich would otherwise squeeze every table into 80."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=120)
    return console


def time_option(text: str | None, option: str, now: datetime) -> datetime | None:
    from monitor.core.timeparse import parse_time

    if text is None:
        return None
    try:
        return parse_time(text, now=now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
