"""The ``llm-monitor`` command line.

One module per group of commands: ``admin`` (check-config, db upgrade), ``running`` (probe,
run, demo), ``simulator`` (simulate) and ``reading`` (report, profile, with ``store_reading``);
``base`` holds what they share. Each command imports what it uses when it runs (the config's
validation, the store, the probe runner, rich): a reading command's process spends most of its
life importing, so ``--help``, ``--version`` and every command load only their own share.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from monitor import __version__
from monitor.cli.admin import check_config, db
from monitor.cli.base import EXIT_USAGE
from monitor.cli.reading import profile, report
from monitor.cli.running import demo, probe, run
from monitor.cli.simulator import simulate
from monitor.core.errors import MonitorError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llm-monitor")
def cli() -> None:
    """Probe hosted LLM endpoints for time to first token, output speed and uptime."""


for _command in (check_config, db, probe, run, demo, simulate, report, profile):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``llm-monitor`` console script."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="llm-monitor")
    except MonitorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
