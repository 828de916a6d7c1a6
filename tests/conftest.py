"""What every test shares: the ``serial`` mark.

``scripts/check`` runs the suite in two phases: the tests not marked ``serial`` spread over
worker processes (pytest-xdist), then the ``serial`` ones alone. Serial are the tests of
tests/reliability and tests/agents: they run daemons as processes and check timings against
ground truth with tolerances of milliseconds, or restart the PostgreSQL server that other tests
use, so they must not share the machine with other tests. Elsewhere, a test that checks a
duration against the simulator's truth to a few milliseconds is marked ``serial`` itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SERIAL_DIRECTORIES = {"reliability", "agents"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of ``SERIAL_DIRECTORIES`` ``serial``."""
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        if parts and parts[0] in SERIAL_DIRECTORIES:
            item.add_marker(pytest.mark.serial)
