"""Commands that check the config and prepare the store: ``check-config`` and ``db upgrade``."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.base import config_option, load
from monitor.cli.simulator import simulator_section


@click.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--no-secrets",
    is_flag=True,
    help="Do not require the API keys' environment variables or files to be present.",
)
def check_config(file: Path, no_secrets: bool) -> None:
    """Validate FILE: exit 0 if valid, 2 listing every problem as `location: message`."""
    # The simulator: section too: a file is valid only if every command can use it.
    config = load(file, resolve_secrets=not no_secrets, section_models=simulator_section())
    click.echo(
        f"{file}: valid ({len(config.models)} model(s), {len(config.endpoints)} endpoint(s))"
    )


@click.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@config_option
def db_upgrade(config_path: Path | None) -> None:
    """Create or migrate the store's schema to this version (the daemon also does it at start)."""
    from monitor.store import open_store

    config = load(config_path, resolve_secrets=False)
    store = open_store(config.schema.storage.url)
    try:
        before = store.current_revision()
        store.upgrade()
        click.echo(f"{store.url}: schema at {store.head_revision()} (was {before or 'empty'})")
    finally:
        store.close()
