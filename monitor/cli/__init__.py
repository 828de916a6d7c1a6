"""The ``llm-monitor`` command line.

Each command imports what it uses when it runs (the config's validation, the store, the probe
runner, rich): a reading command's process spends most of its life importing, so ``--help``,
``--version`` and every command load only their own share.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor import __version__
from monitor.core.errors import ConfigError, MonitorError, StoreError

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from monitor.config import Config, Endpoint
    from monitor.core.result import ProbeResult
    from monitor.simulator import SimulatorConfig
    from monitor.store import Store

#: Exit codes shared by every command.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file [default: $LLM_MONITOR_CONFIG if set, else ./monitor.yaml].",
)


def _fail_config(error: ConfigError) -> None:
    for problem in error.problems:
        click.echo(problem, err=True)
    sys.exit(EXIT_USAGE)


def _load(path: Path | None, *, resolve_secrets: bool = True, simulator: bool = False) -> Config:
    """The config of ``--config``, else ``$LLM_MONITOR_CONFIG``, else ``./monitor.yaml``;
    ``simulator``: its ``simulator:`` section checked too (the commands that use it)."""
    from monitor.config import default_config_path, load_config

    chosen = path or default_config_path()
    try:
        return load_config(
            chosen,
            resolve_secrets=resolve_secrets,
            section_models=_simulator_section() if simulator else None,
        )
    except ConfigError as exc:
        missing = path is None and not chosen.exists()
        _fail_config(ConfigError([f"{chosen}: no such file ({_how_chosen()})"]) if missing else exc)
        raise  # unreachable: _fail_config exits


def _simulator_section() -> dict[str, type[BaseModel]]:
    """The model of the config's ``simulator:`` section, which the product config keeps as a
    plain mapping: only the simulator knows its keys."""
    from monitor.simulator.config import SimulatorConfig

    return {"simulator": SimulatorConfig}


def _how_chosen() -> str:
    """Why the config file without --config is the one it is, for error messages."""
    from monitor.config import CONFIG_ENV_VAR

    if os.environ.get(CONFIG_ENV_VAR, "").strip():
        return f"named by ${CONFIG_ENV_VAR}"
    return f"the default; pass --config FILE or set ${CONFIG_ENV_VAR}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llm-monitor")
def cli() -> None:
    """Probe hosted LLM endpoints for time to first token, output speed and uptime."""


@cli.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--no-secrets",
    is_flag=True,
    help="Do not require the API keys' environment variables or files to be present.",
)
def check_config(file: Path, no_secrets: bool) -> None:
    """Validate FILE: exit 0 if valid, 2 listing every problem as `location: message`."""
    config = _load(file, resolve_secrets=not no_secrets, simulator=True)
    click.echo(
        f"{file}: valid ({len(config.models)} model(s), {len(config.endpoints)} endpoint(s))"
    )


@cli.command()
@_config_option
@click.option(
    "--endpoint",
    "endpoint_ids",
    multiple=True,
    metavar="ID",
    help="Probe only this endpoint (repeatable).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
def probe(config_path: Path | None, endpoint_ids: Sequence[str], output_format: str) -> None:
    """Probe every (or each --endpoint) endpoint once, concurrently, and print the results.

    Exit 0 when every probe succeeded, 1 when any failed, 2 on a usage or config error.
    """
    import asyncio

    from rich.console import Console

    from monitor.cli.render import json_lines, probe_table

    config = _load(config_path)
    endpoints = _select(config, endpoint_ids)
    results = asyncio.run(probe_once(endpoints))
    if output_format == "json":
        json_lines(results, sys.stdout)
    else:
        probe_table(results, Console())
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILURE)


def _select(config: Config, endpoint_ids: Sequence[str]) -> tuple[Endpoint, ...]:
    if not endpoint_ids:
        if not config.endpoints:
            raise click.UsageError("the config defines no (enabled) endpoints")
        return config.endpoints
    known = {e.id: e for e in config.endpoints}
    unknown = [i for i in endpoint_ids if i not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown endpoint(s) {', '.join(unknown)}; configured: {', '.join(known) or 'none'}",
            param_hint="--endpoint",
        )
    return tuple(known[i] for i in dict.fromkeys(endpoint_ids))


async def probe_once(endpoints: Sequence[Endpoint]) -> list[ProbeResult]:
    """Probe each endpoint once, all at the same time."""
    import asyncio

    from monitor.probing.runner import ProbeRunner

    runner = ProbeRunner()
    try:
        return list(await asyncio.gather(*(runner.probe(e) for e in endpoints)))
    finally:
        await runner.aclose()


@cli.command()
@_config_option
def simulate(config_path: Path | None) -> None:
    """Serve the simulated OpenAI and Azure endpoints of the config's `simulator:` section."""
    import asyncio

    from monitor.simulator import SimulatorConfig

    config = _load(config_path, resolve_secrets=False, simulator=True)
    if config.schema.simulator is None:
        raise click.UsageError(f"{config.source}: the config has no simulator: section")
    simulator = SimulatorConfig.model_validate(config.schema.simulator)  # checked by _load
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(run_simulator(simulator, click.echo)))


async def run_simulator(config: SimulatorConfig, out: Callable[[str], None]) -> int:
    """Serve the simulated endpoints, saying where, until SIGINT or SIGTERM; the exit code."""
    import asyncio
    import signal

    from monitor.simulator import Flavor, Simulator

    try:
        simulator = Simulator(config)
    except ValueError as exc:  # e.g. an api_key_env that is not set
        click.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await simulator.start()
    except OSError as exc:
        # asyncio puts the address in strerror too; the errno's own text is enough here.
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        click.echo(f"error: cannot listen on {config.host}:{config.port}: {why}", err=True)
        return EXIT_USAGE
    try:
        out(f"Simulator on {simulator.base_url}, {len(config.endpoints)} endpoint(s):")
        for endpoint in config.endpoints:
            url = simulator.endpoint_url(endpoint.id)
            line = f"  {endpoint.id:<20} {endpoint.flavor.value:<7} {url}"
            if endpoint.flavor is Flavor.AZURE and endpoint.deployments:
                line += f"  (deployments: {', '.join(endpoint.deployments)})"
            out(line)
        out(f"Admin and ground truth: {simulator.base_url}/_simulator/endpoints")
        out("Serving until Ctrl-C or SIGTERM.")
        await stop.wait()
    finally:
        await simulator.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    out("Simulator stopped.")
    return EXIT_OK


@cli.command()
@_config_option
def run(config_path: Path | None) -> None:
    """The daemon: scheduled probes, rollups, metrics and the HTTP API, until SIGTERM/SIGINT."""
    from monitor.service.daemon import run as run_daemon

    sys.exit(run_daemon(_load(config_path)))


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9464,
    show_default=True,
    help="HTTP port of the daemon (a free one is taken if it is busy).",
)
@click.option(
    "--duration",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Stop after this long (default: run until Ctrl-C).",
)
@click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Keep the demo's data in this store (default: a temporary SQLite file).",
)
def demo(port: int, duration: float | None, store_url: str | None) -> None:
    """The whole product with no API key: simulated OpenAI and Azure endpoints for gpt-4.1-nano,
    and the daemon probing them every 5 s with 1-minute windows."""
    from monitor.cli.demo import run_demo

    sys.exit(run_demo(port=port, duration=duration, store_url=store_url, out=click.echo))


@cli.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@_config_option
def db_upgrade(config_path: Path | None) -> None:
    """Create or migrate the store's schema to this version (the daemon also does it at start)."""
    from monitor.store import open_store

    config = _load(config_path, resolve_secrets=False)
    store = open_store(config.schema.storage.url)
    try:
        before = store.current_revision()
        store.upgrade()
        click.echo(f"{store.url}: schema at {store.head_revision()} (was {before or 'empty'})")
    finally:
        store.close()


@contextlib.contextmanager
def _reading_store(config: Config, *, from_option: bool = False) -> Iterator[Store]:
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


_store_option = click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Read this store instead of the config's storage.url (e.g. the demo's --store). "
    "With no config file found, the bundled demo config describes it.",
)


def _reading_config(config_path: Path | None, store_url: str | None) -> tuple[Config, bool]:
    """The config of ``report`` and ``profile``, with ``--store`` in place of storage.url, and
    whether it is the bundled demo config (used for a --store when no config file is found:
    the demo's kept store is the one people read without a config of their own)."""
    import dataclasses

    from monitor.config import CONFIG_ENV_VAR, StorageSettings, default_config_path

    if store_url is None:
        return _load(config_path, resolve_secrets=False), False
    # A $LLM_MONITOR_CONFIG naming a missing file is an error (from _load), not "no config".
    explicit = config_path is not None or os.environ.get(CONFIG_ENV_VAR, "").strip()
    if not explicit and not default_config_path().exists():
        from monitor.cli.demo import demo_reading_config

        return demo_reading_config(store_url), True
    config = _load(config_path, resolve_secrets=False)
    schema = config.schema.model_copy(update={"storage": StorageSettings(url=store_url)})
    return dataclasses.replace(config, schema=schema), False


def _check_demo_store(config: Config, store: Store) -> None:
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


def _reading_console() -> Console:
    """A console for tables that people read; 120 columns when the output is not a terminal
    (a file or a pipe), where rich would otherwise squeeze every table into 80."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=120)
    return console


def _time_option(text: str | None, option: str, now: datetime) -> datetime | None:
    from monitor.core.timeparse import parse_time

    if text is None:
        return None
    try:
        return parse_time(text, now=now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@cli.command()
@_config_option
@_store_option
@click.option(
    "--window",
    "window_text",
    metavar="DURATION",
    default=None,
    help="Rollup window size (default: the configured rollup.window).",
)
@click.option(
    "--since",
    "since_text",
    metavar="TIME",
    default=None,
    help="Start: ISO 8601 with Z or an offset, a date, or 24h-style before now.",
)
@click.option(
    "--until",
    "until_text",
    metavar="TIME",
    default=None,
    help="End (default: the end of the last complete window); same forms as --since.",
)
@click.option("--model", "model_id", metavar="ID", default=None, help="Only this model.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "markdown", "json", "csv"]),
    default="table",
    show_default=True,
)
def report(
    config_path: Path | None,
    store_url: str | None,
    window_text: str | None,
    since_text: str | None,
    until_text: str | None,
    model_id: str | None,
    output_format: str,
) -> None:
    """The rollup report from the store: each model's live card, each endpoint's summary over
    the range, and every window's rollups. Default range: the last complete window.

    Exit 0, or 2 for an unknown model, a bad time or window, or a store that cannot be read.
    """
    from monitor.core.timeparse import describe_window, parse_window
    from monitor.reports import (
        build_report,
        render_csv,
        render_json,
        render_markdown,
        render_table,
        unknown_model_message,
        window_is_known,
    )
    from monitor.service.aggregator import window_seconds

    config, demo_config = _reading_config(config_path, store_url)
    now = datetime.now(UTC)
    since = _time_option(since_text, "--since", now)
    until = _time_option(until_text, "--until", now)
    if since is not None and until is not None and since >= until:
        raise click.BadParameter(
            f"{since_text!r} is not before --until {until_text!r}", param_hint="--since"
        )
    if model_id is not None and config.model(model_id) is None:
        raise click.BadParameter(unknown_model_message(config, model_id), param_hint="--model")
    window: int | None = None
    if window_text is not None:
        try:
            window = parse_window(window_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--window") from None
    with _reading_store(config, from_option=store_url is not None) as store:
        if demo_config:
            _check_demo_store(config, store)
        if window is not None and not window_is_known(config, store, window):
            raise click.BadParameter(
                f"{describe_window(window)} is not the configured rollup window "
                f"({describe_window(window_seconds(config))}) and the store holds no rollups "
                "of that size",
                param_hint="--window",
            )
        built = build_report(
            config, store, now=now, since=since, until=until, window=window, model=model_id
        )
    if output_format == "json":
        click.echo(render_json(built), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(built), nl=False)
    elif output_format == "csv":
        click.echo(render_csv(built), nl=False)
    else:
        render_table(built, _reading_console())


@cli.command()
@click.argument("model_id", metavar="MODEL")
@_config_option
@_store_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
def profile(
    model_id: str, config_path: Path | None, store_url: str | None, output_format: str
) -> None:
    """The aggregated profile of MODEL: its facts and live numbers (the API's document as
    JSON). Exit 0, or 2 for an unknown model or a store that cannot be read."""
    from monitor.reports import model_profile, render_profile, unknown_model_message
    from monitor.service.aggregator import profile_json, window_seconds

    config, demo_config = _reading_config(config_path, store_url)
    spec = config.model(model_id)
    if spec is None:
        raise click.BadParameter(unknown_model_message(config, model_id), param_hint="MODEL")
    with _reading_store(config, from_option=store_url is not None) as store:
        if demo_config:
            _check_demo_store(config, store)
        live = model_profile(config, store, model_id, datetime.now(UTC))
    if output_format == "json":
        click.echo(json.dumps(profile_json(config, live), indent=2, ensure_ascii=False))
    else:
        render_profile(
            spec,
            live,
            window_seconds(config),
            config.schema.profile.uptime_window,
            _reading_console(),
        )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``llm-monitor`` console script."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="llm-monitor")
    except MonitorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
