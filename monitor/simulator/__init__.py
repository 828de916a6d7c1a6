"""Local stand-ins for OpenAI and Azure OpenAI streaming endpoints, with ground truth.

The simulator speaks the real services' wire formats (status lines, headers, SSE framing, JSON
key order, error bodies) with scripted, per-endpoint behaviour, and records for every request
what it sent and exactly when (``Simulator.truth``). See ``server.py`` for the API,
``config.py`` for the ``simulator:`` config section and ``script.py`` for what each behaviour
sends on the wire; README.md has the whole picture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from monitor.simulator.config import Behaviour, EndpointConfig, Flavor, SimulatorConfig

if TYPE_CHECKING:
    from monitor.simulator.server import Simulator, serve
    from monitor.simulator.truth import RequestTruth

# `check-config` and `simulate` need only the config classes to check the `simulator:` section; the
# server (and asyncio with it) loads on first use, which keeps it out of every command's start-up.
_LAZY = {"Simulator": "server", "serve": "server", "RequestTruth": "truth"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "Behaviour",
    "EndpointConfig",
    "Flavor",
    "RequestTruth",
    "Simulator",
    "SimulatorConfig",
    "serve",
]
