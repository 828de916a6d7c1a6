"""The stamping transport: request start at the socket write, arrivals at the socket read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from time import perf_counter_ns

import httpx
import pytest

from monitor.transport import StampingTransport, wire_timing

MS = 1_000_000


class _SlowServer:
    """Answers each request with headers, then one body chunk after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received_ns: list[int] = []
        self.body_sent_ns: list[int] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                first = await reader.read(1)
                if not first:
                    return
                self.received_ns.append(perf_counter_ns())
                head = first + await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                await writer.drain()
                await asyncio.sleep(self.delay)
                writer.write(b"5\r\nhello\r\n0\r\n\r\n")
                self.body_sent_ns.append(perf_counter_ns())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[_SlowServer, str]]:
    handler = _SlowServer(delay=0.2)
    server = await asyncio.start_server(handler.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield handler, f"http://127.0.0.1:{port}/"


async def _fetch(client: httpx.AsyncClient, url: str) -> tuple[int, int, int]:
    """Return (request start, body arrival stamp, time the caller saw the body)."""
    with wire_timing() as timing:
        async with client.stream("POST", url, content=b"{}") as response:
            async for _chunk in response.aiter_raw():
                assert timing.last_read_ns is not None
                arrival = timing.last_read_ns
                seen = perf_counter_ns()
    assert timing.request_started_ns is not None
    return timing.request_started_ns, arrival, seen


async def test_request_start_is_the_socket_write_not_the_call(
    slow_server: tuple[_SlowServer, str],
) -> None:
    handler, url = slow_server
    async with httpx.AsyncClient(transport=StampingTransport()) as client:
        called = perf_counter_ns()
        with wire_timing() as timing:
            async with client.stream("POST", url, content=b"{}") as response:
                await response.aread()
    assert timing.request_started_ns is not None
    # Stamped after the call began and after the connection was set up ...
    assert called < timing.request_started_ns
    assert timing.setup_ended_ns is not None
    assert timing.setup_ended_ns <= timing.request_started_ns
    # ... and before the server saw the request's first byte.
    assert timing.request_started_ns <= handler.received_ns[0]


async def test_body_arrival_is_stamped_when_the_bytes_are_read(
    slow_server: tuple[_SlowServer, str],
) -> None:
    handler, url = slow_server
    async with httpx.AsyncClient(transport=StampingTransport()) as client:
        start, arrival, seen = await _fetch(client, url)
    sent = handler.body_sent_ns[0]
    # The server slept 200 ms between headers and body; the stamp follows the send closely.
    assert arrival - start >= 190 * MS
    assert 0 <= arrival - sent < 5 * MS
    assert arrival <= seen


async def test_a_reused_connection_reports_no_connect_time(
    slow_server: tuple[_SlowServer, str],
) -> None:
    handler, url = slow_server
    handler.delay = 0.0
    async with httpx.AsyncClient(transport=StampingTransport()) as client:
        with wire_timing() as first:
            (await client.post(url, content=b"{}")).raise_for_status()
        with wire_timing() as second:
            (await client.post(url, content=b"{}")).raise_for_status()
    assert handler.connections == 1
    assert not first.connection_reused and first.connect_seconds > 0
    assert second.connection_reused and second.connect_seconds == 0
    assert second.request_started_ns is not None


async def test_requests_outside_a_timing_block_are_not_stamped(
    slow_server: tuple[_SlowServer, str],
) -> None:
    handler, url = slow_server
    handler.delay = 0.0
    async with httpx.AsyncClient(transport=StampingTransport()) as client:
        with wire_timing() as timing:
            pass
        (await client.post(url, content=b"{}")).raise_for_status()
    assert timing.request_started_ns is None and timing.last_read_ns is None


async def test_concurrent_probes_keep_their_own_stamps(
    slow_server: tuple[_SlowServer, str],
) -> None:
    handler, url = slow_server
    handler.delay = 0.05
    async with httpx.AsyncClient(transport=StampingTransport()) as client:
        results = await asyncio.gather(*(_fetch(client, url) for _ in range(20)))
    for start, arrival, seen in results:
        assert start < arrival <= seen
        assert arrival - start >= 45 * MS
    assert len({start for start, _, _ in results}) == 20
