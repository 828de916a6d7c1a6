"""Fixtures: a running simulator with one OpenAI and one Azure endpoint, and an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.simulator import Simulator

from .helpers import make_config


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """A started simulator (free port, fixed seed, fast endpoints ``openai`` and ``azure``)."""
    async with Simulator(make_config()) as simulator:
        yield simulator


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client with a short timeout."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http
