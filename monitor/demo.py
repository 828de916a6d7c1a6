"""The demo: the bundled config's simulated endpoints, started in-process, probed for real."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from monitor.config import Config, parse_config
from monitor.simulator import Simulator, SimulatorConfig

#: The demo's made-up credential, shared by the simulator and the monitor through the environment.
DEMO_KEY_ENV = "LLM_MONITOR_DEMO_KEY"
DEMO_KEY_DEFAULT = "demo-key-not-a-secret"
#: The address the bundled config's endpoints name; the demo moves them to the real port.
BUNDLED_SIMULATOR_URL = "http://127.0.0.1:8400"


def demo_config_text() -> str:
    """The bundled demo config (``config/demo.yaml``)."""
    return resources.files("monitor").joinpath("data/demo.yaml").read_text(encoding="utf-8")


def demo_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the demo key set (an existing value is kept)."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault(DEMO_KEY_ENV, DEMO_KEY_DEFAULT)
    return env


def demo_raw_config() -> dict[str, Any]:
    """The bundled demo config as a mapping, to adjust before validation."""
    raw: dict[str, Any] = yaml.safe_load(demo_config_text())
    return raw


def point_at(raw: dict[str, Any], simulator_url: str) -> dict[str, Any]:
    """The config with every endpoint that names the bundled simulator address moved to
    ``simulator_url``."""
    for endpoint in raw.get("endpoints", []):
        url = str(endpoint.get("base_url", ""))
        if url.startswith(BUNDLED_SIMULATOR_URL):
            endpoint["base_url"] = simulator_url + url.removeprefix(BUNDLED_SIMULATOR_URL)
    return raw


async def start_demo_simulator(
    raw: dict[str, Any], env: Mapping[str, str], *, port: int = 0
) -> tuple[Simulator, Config]:
    """Start the simulator of ``raw`` on ``port`` (0: any free port) and return it with the
    validated config whose endpoints point at it."""
    os.environ.setdefault(DEMO_KEY_ENV, env[DEMO_KEY_ENV])  # the simulator reads its key here
    sim_raw = dict(raw["simulator"], port=port)
    simulator = Simulator(SimulatorConfig.model_validate(sim_raw))
    await simulator.start()
    try:
        config = parse_config(yaml.safe_dump(point_at(raw, simulator.base_url)), environ=env)
    except BaseException:
        await simulator.stop()
        raise
    return simulator, config
