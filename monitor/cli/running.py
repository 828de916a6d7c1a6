"""Commands that probe endpoints: ``probe`` (once), ``run`` (the daemon) and ``demo``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.base import EXIT_FAILURE, EXIT_OK, config_option, load

if TYPE_CHECKING:
    from monitor.config import Config, Endpoint
    from monitor.core.agent import AgentIdentity
    from monitor.core.result import ProbeResult


@click.command()
@config_option
@click.option(
    "--endpoint",
    "endpoint_ids",
    multiple=True,
    metavar="ID",
    help="Probe only this endpoint (repeatable).",
)
@click.option(
    "--kinds",
    "with_kinds",
    is_flag=True,
    help="Probe each endpoint's probe kinds too (README: Probe kinds).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
def probe(
    config_path: Path | None, endpoint_ids: Sequence[str], with_kinds: bool, output_format: str
) -> None:
    """Probe every (or each --endpoint) endpoint once, concurrently, and print the results;
    with --kinds each of its probe kinds too (shown as ENDPOINT#KIND).

    Exit 0 when every probe succeeded, 1 when any failed, 2 on a usage or config error.
    """
    import asyncio

    from rich.console import Console

    from monitor.cli.render import json_lines, probe_table

    config = load(config_path)
    endpoints = _select(config, endpoint_ids)
    if with_kinds:
        endpoints = tuple(t for e in endpoints for t in e.targets())
    results = asyncio.run(probe_once(endpoints, config.agent))
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


async def probe_once(
    endpoints: Sequence[Endpoint], agent: AgentIdentity | None = None
) -> list[ProbeResult]:
    """Probe each endpoint once, all at the same time, as ``agent``."""
    import asyncio

    from monitor.probing.runner import ProbeRunner

    runner = ProbeRunner(agent=agent)
    try:
        return list(await asyncio.gather(*(runner.probe(e) for e in endpoints)))
    finally:
        await runner.aclose()


def _agent_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from monitor.core.agent import name_problem

    problem = name_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem)
    return value


@click.command()
@config_option
@click.option(
    "--agent",
    "agent_name",
    metavar="NAME",
    callback=_agent_name,
    help="This agent's name (over $LLM_MONITOR_AGENT and the config's agent.name; default:"
    " the host's name).",
)
@click.option(
    "--location",
    metavar="LOC",
    callback=_agent_name,
    help="Where this agent probes from (over $LLM_MONITOR_LOCATION and the config's"
    " agent.location; default: local).",
)
def run(config_path: Path | None, agent_name: str | None, location: str | None) -> None:
    """The daemon: scheduled probes, rollups, metrics and the HTTP API, until SIGTERM/SIGINT."""
    import os

    from monitor.api.server import run as run_daemon
    from monitor.core.agent import AGENT_ENV, LOCATION_ENV

    # Through the environment, so that a reload (SIGHUP) keeps them too.
    if agent_name:
        os.environ[AGENT_ENV] = agent_name
    if location:
        os.environ[LOCATION_ENV] = location
    sys.exit(run_daemon(load(config_path)))


@click.command()
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
