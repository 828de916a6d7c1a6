"""A streamed body made on a thread of its own (``monitor.api.streaming.made_ahead``): whole and
in order, never more than a few chunks ahead of the client, errors raised, and a client that
goes away stops the making; over a real socket, ``/metrics`` of a large registry."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from monitor.api.app import create_app
from monitor.api.streaming import made_ahead
from monitor.metrics import MetricsRegistry, exposition
from monitor.metrics.families import CounterFamily, HistogramFamily
from monitor.metrics.names import LATENCY_BUCKETS, Spec
from tests.served import served


class Maker:
    """Chunks that count themselves, and say when they were closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.made = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for n in range(self.count):
                if n == self.fail_at:
                    raise ValueError(f"chunk {n} cannot be made")
                self.made += 1
                yield f"chunk {n}\n".encode()
        finally:
            self.closed.set()


async def test_every_chunk_arrives_once_and_in_order() -> None:
    maker = Maker(500)
    taken = [chunk async for chunk in made_ahead(iter(maker))]
    assert taken == [f"chunk {n}\n".encode() for n in range(500)]
    assert maker.closed.wait(5)


async def test_the_maker_stays_a_few_chunks_ahead_of_a_slow_taker() -> None:
    maker = Maker(40)
    taken = 0
    async for _chunk in made_ahead(iter(maker), ahead=2):
        taken += 1
        await asyncio.sleep(0.01)  # a slow client: the maker would finish at once if unbounded
        # made: those taken, those handed over and waiting (ahead), and one in its hands.
        assert maker.made <= taken + 2 + 1
    assert taken == 40


async def test_an_error_while_making_reaches_the_taker_after_the_chunks_before_it() -> None:
    maker = Maker(10, fail_at=3)
    taken: list[bytes] = []

    async def take_all() -> None:
        async for chunk in made_ahead(iter(maker)):
            taken.append(chunk)

    with pytest.raises(ValueError, match="chunk 3 cannot be made"):
        await take_all()
    assert taken == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n"]


async def test_a_taker_that_stops_early_stops_the_maker_and_closes_its_chunks() -> None:
    maker = Maker(10_000)
    body = made_ahead(iter(maker), ahead=2)
    assert await anext(body) == b"chunk 0\n"
    await body.aclose()  # what the server does when the client goes away
    assert await asyncio.to_thread(maker.closed.wait, 10)
    assert maker.made < 10
    assert not [t for t in threading.enumerate() if t.name == "llm-monitor-body"]


def _large_registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    histogram = HistogramFamily(
        Spec("t_seconds", "Latency.", "histogram", ("endpoint", "model"), LATENCY_BUCKETS)
    )
    counter = CounterFamily(Spec("t_probes", "Probes.", "counter", ("endpoint", "outcome")))
    registry.register(histogram)
    registry.register(counter)
    for n in range(4000):
        histogram.labels(f"endpoint-{n:05d}", "gpt-4.1-nano").observe((n % 89) / 10)
        counter.labels(f"endpoint-{n:05d}", "success").inc(n)
    return registry


async def test_metrics_over_a_socket_survive_a_scraper_that_hangs_up_midway() -> None:
    registry = _large_registry()
    whole = exposition(registry)[0]
    assert len(whole) > 4_000_000  # several chunks
    view: Any = SimpleNamespace(
        registry=registry,
        config=SimpleNamespace(
            api_token=None, schema=SimpleNamespace(server=SimpleNamespace(public_embeds=False))
        ),
    )
    async with served(create_app(view)) as base, httpx.AsyncClient(timeout=30) as client:
        url = f"{base}/metrics"
        async with client.stream("GET", url) as response:
            async for _first in response.aiter_raw():
                break  # hang up after the first piece
        deadline = time.monotonic() + 10
        while any(t.name == "llm-monitor-body" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the body's maker went on without a client"
            await asyncio.sleep(0.05)
        full = await client.get(url)
    assert full.status_code == 200
    assert full.content == whole
