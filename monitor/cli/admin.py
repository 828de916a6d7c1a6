"""Commands that check the config and prepare the store: ``check-config`` and ``db upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.base import config_option, load
from monitor.cli.simulator import simulator_section

if TYPE_CHECKING:  # imported when a command runs, not for --help
    from monitor.config import Config


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
    if config.endpoints:
        click.echo()
        click.echo(spend_table(config))


def spend_table(config: Config) -> str:
    """What the probes cost a day at most, per endpoint and in all (docs/design.md#probe-
    spend), with the budget when one is set."""
    from monitor.core.spend import estimate_spend, total_per_day, unpriced, usd

    estimates = estimate_spend(config.probe_targets())
    headers = ("endpoint", "model", "probes/day", "tokens in/out", "USD/day at most")
    rows = [
        (
            e.endpoint,
            e.model,
            f"{e.probes_per_day:,.0f}",
            f"{e.input_tokens:,}/{e.output_tokens:,}",
            usd(e.usd_per_day) if e.usd_per_day is not None else "unknown (no pricing)",
        )
        for e in estimates
    ]
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]
    right = (False, False, True, True, True)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    lines = ["Probe spend (an upper bound: every answer billed at max_tokens):"]
    lines += [line(headers), *(line(r) for r in rows)]
    total = f"Total: {usd(total_per_day(estimates))} a day at most"
    missing = unpriced(estimates)
    if missing:
        total += f" (not counted, their models have no pricing: {', '.join(missing)})"
    budget = config.schema.probe.budget_usd_per_day
    if budget is not None:
        total += f"; budget {usd(budget)} a day (probe.budget_usd_per_day)"
    return "\n".join([*lines, total])


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
