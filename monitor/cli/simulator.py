"""``llm-monitor simulate``: the config's ``simulator:`` endpoints, served until stopped.

The product config keeps that section as a plain mapping; the simulator's own models validate
it here (and for ``check-config``), so the config package never loads the simulator.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.base import EXIT_OK, EXIT_USAGE, config_option, load

if TYPE_CHECKING:
    from pydantic import BaseModel

    from monitor.simulator import SimulatorConfig


def simulator_section() -> dict[str, type[BaseModel]]:
    """The ``section_models`` that check the config's ``simulator:`` section."""
    from monitor.simulator.config import SimulatorConfig

    return {"simulator": SimulatorConfig}


@click.command()
@config_option
def simulate(config_path: Path | None) -> None:
    """Serve the simulated OpenAI and Azure endpoints of the config's `simulator:` section."""
    import asyncio

    from monitor.simulator import SimulatorConfig

    config = load(config_path, resolve_secrets=False, section_models=simulator_section())
    if config.schema.simulator is None:
        raise click.UsageError(f"{config.source}: the config has no simulator: section")
    simulator = SimulatorConfig.model_validate(config.schema.simulator)  # checked by load
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
