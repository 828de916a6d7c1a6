"""The ``llm-monitor`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console

from monitor import __version__
from monitor.config import Config, Endpoint, default_config_path, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.render import json_lines, probe_table
from monitor.result import ProbeResult
from monitor.runner import ProbeRunner

#: Exit codes shared by every command.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default ./monitor.yaml, else $LLM_MONITOR_CONFIG).",
)


def _fail_config(error: ConfigError) -> None:
    for problem in error.problems:
        click.echo(problem, err=True)
    sys.exit(EXIT_USAGE)


def _load(path: Path | None, *, resolve_secrets: bool = True) -> Config:
    try:
        return load_config(path or default_config_path(), resolve_secrets=resolve_secrets)
    except ConfigError as exc:
        _fail_config(exc)
        raise  # unreachable: _fail_config exits


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
    config = _load(file, resolve_secrets=not no_secrets)
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
    runner = ProbeRunner()
    try:
        return list(await asyncio.gather(*(runner.probe(e) for e in endpoints)))
    finally:
        await runner.aclose()


@cli.command()
@_config_option
def simulate(config_path: Path | None) -> None:
    """Serve the simulated OpenAI and Azure endpoints of the config's `simulator:` section."""
    from monitor.simulator.server import serve

    config = _load(config_path, resolve_secrets=False)
    if config.schema.simulator is None:
        raise click.UsageError(f"{config.source}: the config has no simulator: section")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config.schema.simulator))


@cli.command()
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Probe rounds to run.",
)
def demo(rounds: int) -> None:
    """Start the simulator of the bundled demo config and probe its endpoints (no API key)."""
    from monitor.demo import demo_environment, demo_raw_config, start_demo_simulator

    async def run() -> int:
        simulator, config = await start_demo_simulator(demo_raw_config(), demo_environment())
        console = Console()
        console.print(f"Simulator (OpenAI and Azure OpenAI stand-in) at {simulator.base_url}")
        failures = 0
        try:
            for round_number in range(1, rounds + 1):
                results = await probe_once(config.endpoints)
                failures += sum(not r.ok for r in results)
                console.print(f"Round {round_number} of {rounds}")
                probe_table(results, console)
                if round_number < rounds:
                    await asyncio.sleep(config.endpoints[0].probe.interval / 2)
        finally:
            await simulator.stop()
        return failures

    asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``llm-monitor`` console script."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="llm-monitor")
    except MonitorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
