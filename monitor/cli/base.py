"""What every command shares: exit codes, the ``--config`` option and loading the config."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from monitor.core.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from monitor.config import Config

#: Exit codes shared by every command.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file [default: $LLM_MONITOR_CONFIG if set, else ./monitor.yaml].",
)


def fail_config(error: ConfigError) -> NoReturn:
    """Print every problem of a config, one per line, and exit 2."""
    for problem in error.problems:
        click.echo(problem, err=True)
    sys.exit(EXIT_USAGE)


def load(
    path: Path | None,
    *,
    resolve_secrets: bool = True,
    section_models: Mapping[str, type[BaseModel]] | None = None,
) -> Config:
    """The config of ``--config``, else ``$LLM_MONITOR_CONFIG``, else ``./monitor.yaml``
    (``section_models`` as for ``load_config``); exit 2 listing its problems."""
    from monitor.config import default_config_path, load_config

    chosen = path or default_config_path()
    try:
        return load_config(chosen, resolve_secrets=resolve_secrets, section_models=section_models)
    except ConfigError as exc:
        missing = path is None and not chosen.exists()
        fail_config(ConfigError([f"{chosen}: no such file ({how_chosen()})"]) if missing else exc)


def how_chosen() -> str:
    """Why the config file without --config is the one it is, for error messages."""
    from monitor.config import CONFIG_ENV_VAR

    if os.environ.get(CONFIG_ENV_VAR, "").strip():
        return f"named by ${CONFIG_ENV_VAR}"
    return f"the default; pass --config FILE or set ${CONFIG_ENV_VAR}"
