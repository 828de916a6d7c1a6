"""The stamping transport: request start at the socket write, arrivals at the socket read."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from time import perf_counter_ns

import httpx
import pytest

from monitor.probing.transport import StampingTransport, wire_timing

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
                # Stamped before the write: over loopback the kernel may receive (and stamp) the
                # bytes before the write returns.
                self.body_sent_ns.append(perf_counter_ns())
                writer.write(b"5\r\nhello\r\n0\r\n\r\n")
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


@contextlib.asynccontextmanager
async def _serve_once(
    respond: Callable[[asyncio.StreamWriter], Awaitable[None]], *, read_body: bool = True
) -> AsyncIterator[str]:
    """A server that reads one request (its body unless ``read_body`` is false), then lets
    ``respond`` write the answer. Its handlers are ended and their connections closed on exit,
    so none is left to the event loop's teardown."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(typing.cast("asyncio.Task[None]", asyncio.current_task()))
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if read_body and line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
            await respond(writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with server:
            yield f"http://127.0.0.1:{port}/"
    finally:
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"


async def test_bytes_that_wait_to_be_read_keep_the_stamp_of_their_arrival() -> None:
    sent: list[int] = []

    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(CHUNKED_HEAD)
        await writer.drain()
        for piece in (b"first", b"second"):
            sent.append(perf_counter_ns())
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")

    stamps: list[int] = []
    async with (
        _serve_once(respond) as url,
        httpx.AsyncClient(transport=StampingTransport()) as client,
    ):
        with wire_timing() as timing:
            async with client.stream("POST", url, content=b"{}") as response:
                # Both pieces arrive while the caller is busy elsewhere.
                await asyncio.sleep(0.2)
                read_from = perf_counter_ns()
                async for chunk in response.aiter_raw():
                    if chunk:
                        assert timing.last_read_ns is not None
                        stamps.append(timing.last_read_ns)
    assert len(stamps) == 2
    # Each piece is stamped when it arrived, not when the caller got to it 100-200 ms later
    # (one turn of the loop after it was sent; a loaded machine may take some ms for that turn).
    for stamp, at in zip(stamps, sent, strict=True):
        assert 0 <= stamp - at < 50 * MS
        assert read_from - stamp > 100 * MS
    assert stamps[1] - stamps[0] >= 45 * MS


async def test_an_unread_flood_stops_being_read_from_the_socket() -> None:
    flood = 32 * 1024 * 1024
    finished: list[int] = []

    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % flood
        )
        writer.write(b"x" * flood)
        await writer.drain()
        finished.append(perf_counter_ns())

    received = 0
    async with (
        _serve_once(respond) as url,
        httpx.AsyncClient(transport=StampingTransport()) as client,
        client.stream("POST", url, content=b"{}") as response,
    ):
        await asyncio.sleep(0.3)
        read_from = perf_counter_ns()
        async for chunk in response.aiter_raw():
            received += len(chunk)
    assert received == flood
    # The client did not swallow 32 MB while it was not reading: the server's writes waited
    # for the client to read.
    assert finished and finished[0] > read_from


async def test_socket_failures_are_httpx_errors_that_say_what_happened() -> None:
    async def reset_mid_body(writer: asyncio.StreamWriter) -> None:
        writer.write(CHUNKED_HEAD + b"5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with (
        _serve_once(reset_mid_body) as url,
        httpx.AsyncClient(transport=StampingTransport()) as client,
        client.stream("POST", url, content=b"{}") as response,
    ):
        with pytest.raises(httpx.ReadError, match="reset"):
            async for _chunk in response.aiter_raw():
                pass

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with httpx.AsyncClient(transport=StampingTransport()) as client:
        with pytest.raises(httpx.ConnectError, match=r"refused|failed"):
            await client.post(f"http://127.0.0.1:{port}/", content=b"{}")


async def test_a_silent_server_is_a_read_timeout_after_the_timeout() -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async with (
        _serve_once(silent) as url,
        httpx.AsyncClient(transport=StampingTransport()) as client,
    ):
        started = perf_counter_ns()
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, content=b"{}", timeout=0.2)
        waited = perf_counter_ns() - started
    assert 190 * MS <= waited < 2000 * MS


def _established_to(port: int) -> int:
    """Client-side TCP connections to ``port`` that are still open (Linux's /proc/net/tcp)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for row in rows if row.split()[2].endswith(f":{port:04X}") and row.split()[3] == "01"
    )


async def test_a_server_that_does_not_read_is_a_write_timeout() -> None:
    async def deaf(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # reads nothing of the body

    async with (
        _serve_once(deaf, read_body=False) as url,
        httpx.AsyncClient(transport=StampingTransport()) as client,
    ):
        started = perf_counter_ns()
        with pytest.raises(httpx.WriteTimeout):
            # More than the kernel's socket buffers hold, so the rest must wait to be sent.
            await client.post(
                url, content=b"x" * (64 * 1024 * 1024), timeout=httpx.Timeout(5, write=0.2)
            )
        waited = perf_counter_ns() - started
        # The connection is gone, not left waiting to send the rest to a peer that never reads.
        await asyncio.sleep(0.05)  # asyncio closes the socket on the loop's next turns
        assert _established_to(int(url.split(":")[2].rstrip("/"))) == 0
    assert 190 * MS <= waited < 2000 * MS
