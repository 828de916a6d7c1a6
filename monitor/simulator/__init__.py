"""Local stand-ins for OpenAI and Azure OpenAI streaming endpoints, with ground truth.

The simulator speaks the real services' wire formats (status lines, headers, SSE framing, JSON
key order, error bodies) with scripted, per-endpoint behaviour, and records for every request
what it sent and exactly when (``Simulator.truth``). See ``server.py`` for the API,
``config.py`` for the ``simulator:`` config section and ``script.py`` for what each behaviour
sends on the wire; README.md has the whole picture.
"""

from monitor.simulator.config import Behaviour, EndpointConfig, Flavor, SimulatorConfig
from monitor.simulator.server import Simulator, serve
from monitor.simulator.truth import RequestTruth

__all__ = [
    "Behaviour",
    "EndpointConfig",
    "Flavor",
    "RequestTruth",
    "Simulator",
    "SimulatorConfig",
    "serve",
]
