"""An httpx transport that stamps, on the monotonic clock, when bytes cross the socket.

TTFT starts when the request's first byte is written and every arrival is timed when its bytes
arrive, before any parsing (docs/design.md#request-start, #arrival-time). httpx parses HTTP framing
(h11) before a body chunk reaches the caller, and builds, pools and connects before it writes, so
times taken around ``client.stream()`` would include client-side work. Instead this module gives
httpcore its own network backend, written on asyncio's transports and protocols:

- a request starts when its first byte is handed to the socket (``transport.write`` sends at
  once when nothing is queued);
- each arrival is stamped in ``data_received``, the callback in which the event loop has just
  read those bytes from the socket, before the probe's task is resumed to look at them; a
  ``read`` returns the bytes of one arrival at a time, so every byte keeps its own stamp.

The stamps go to the :class:`WireTiming` of the probe that is running in the current asyncio
task (a ``ContextVar``), since httpcore performs a request's I/O in the task that sent it.
A connection-setup step (TCP connect, TLS handshake, proxy tunnel) resets the request start, so
only the write of the request itself counts, and the setup time is reported separately.

The backend also costs less than httpcore's default (anyio): no cancel scope per read and no
pausing and resuming of the socket's reader after every chunk. It raises the exceptions
httpcore's own backends raise (``ConnectError``, ``ReadTimeout``, ...), which httpx maps to its
own, so callers see no difference.
"""

from __future__ import annotations

import asyncio
import ssl
import typing
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from time import perf_counter_ns

import httpcore
import httpx

__all__ = ["StampingTransport", "WireTiming", "wire_timing"]

#: Bytes received and not yet read past which the socket's reader is paused (a probe reads as
#: fast as the endpoint sends, so this bounds memory only against a flood).
_READ_HIGH_WATER = 256 * 1024
#: How far below which reading resumes.
_READ_LOW_WATER = 64 * 1024
#: anyio's (httpcore's default backend) delay between connection attempts to a host's
#: addresses (RFC 8305).
_HAPPY_EYEBALLS_DELAY = 0.25


@dataclass(slots=True)
class WireTiming:
    """Monotonic stamps (``perf_counter_ns``) of one probe's socket activity."""

    setup_started_ns: int | None = None
    setup_ended_ns: int | None = None
    request_started_ns: int | None = None
    last_read_ns: int | None = None

    @property
    def connection_reused(self) -> bool:
        """True when the probe sent its request on a connection opened earlier."""
        return self.setup_started_ns is None

    @property
    def connect_seconds(self) -> float:
        """Time spent opening the connection (TCP, tunnel, TLS); 0 on a reused one."""
        if self.setup_started_ns is None or self.setup_ended_ns is None:
            return 0.0
        return (self.setup_ended_ns - self.setup_started_ns) / 1e9

    def setup_step(self, started_ns: int, ended_ns: int) -> None:
        """Record a connection-setup step; the request has not started before it ended."""
        if self.setup_started_ns is None:
            self.setup_started_ns = started_ns
        self.setup_ended_ns = ended_ns
        self.request_started_ns = None


_current: ContextVar[WireTiming | None] = ContextVar("monitor_wire_timing", default=None)


@contextmanager
def wire_timing() -> Iterator[WireTiming]:
    """Collect the socket stamps of the requests made inside this block, in this task."""
    timing = WireTiming()
    token = _current.set(timing)
    try:
        yield timing
    finally:
        _current.reset(token)


def _record_setup(started_ns: int) -> None:
    timing = _current.get()
    if timing is not None:
        timing.setup_step(started_ns, perf_counter_ns())


class _Protocol(asyncio.Protocol):
    """Keeps what arrives, stamped, until the stream reads it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        #: (arrival stamp, bytes) of each ``data_received``, oldest first.
        self.arrivals: deque[tuple[int, bytes]] = deque()
        self.buffered = 0
        self.reading_paused = False
        self.eof = False
        self.error: Exception | None = None
        self.writing_paused = False
        self._read_waiter: asyncio.Future[bool] | None = None
        self._drain_waiter: asyncio.Future[bool] | None = None

    # asyncio's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.arrivals.append((perf_counter_ns(), data))
        self.buffered += len(data)
        if self.buffered > _READ_HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        _wake(self._read_waiter)

    def eof_received(self) -> bool:
        self.eof = True
        _wake(self._read_waiter)
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        _wake(self._read_waiter)
        _wake(self._drain_waiter)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        _wake(self._drain_waiter)

    # used by the stream

    def take(self, max_bytes: int) -> tuple[int, bytes]:
        """The oldest arrival not yet read (at most ``max_bytes`` of it) and its stamp;
        reading resumes once what is left unread is small again."""
        arrived, data = self.arrivals[0]
        if len(data) > max_bytes:
            self.arrivals[0] = (arrived, data[max_bytes:])
            data = data[:max_bytes]
        else:
            self.arrivals.popleft()
        self.buffered -= len(data)
        if self.reading_paused and self.buffered <= _READ_LOW_WATER and self.transport:
            self.reading_paused = False
            self.transport.resume_reading()
        return arrived, data

    def lost_error(self) -> httpcore.WriteError:
        """The error for writing to a connection that is closed or lost."""
        return httpcore.WriteError(str(self.error) if self.error else "the connection closed")

    async def wait_readable(self, timeout: float | None) -> bool:
        """Wait for an arrival, the end or an error; False if ``timeout`` passed first."""
        waiter = asyncio.get_running_loop().create_future()
        self._read_waiter = waiter
        try:
            return await _wait(waiter, timeout)
        finally:
            self._read_waiter = None

    async def wait_drained(self, timeout: float | None) -> bool:
        """Wait until the transport takes more to write; False if ``timeout`` passed first."""
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiter = waiter
        try:
            return await _wait(waiter, timeout)
        finally:
            self._drain_waiter = None


def _wake(waiter: asyncio.Future[bool] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(True)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


async def _wait(waiter: asyncio.Future[bool], timeout: float | None) -> bool:
    if timeout is None:
        return await waiter
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter)
    try:
        return await waiter
    finally:
        timer.cancel()


class _SocketStream(httpcore.AsyncNetworkStream):
    """One connection: writes and reads stamped, in the errors httpcore expects."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        arrivals = protocol.arrivals
        if not arrivals:
            if not protocol.eof and not await protocol.wait_readable(timeout):
                raise httpcore.ReadTimeout()
            if not arrivals:
                if protocol.error is not None:
                    raise httpcore.ReadError(str(protocol.error)) from protocol.error
                return b""
        arrived, data = protocol.take(max_bytes)
        timing = _current.get()
        if timing is not None:
            timing.last_read_ns = arrived
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.eof or self._transport.is_closing():
            raise protocol.lost_error()
        timing = _current.get()
        if timing is not None and timing.request_started_ns is None:
            timing.request_started_ns = perf_counter_ns()
        self._transport.write(buffer)
        while protocol.writing_paused:
            if protocol.eof:  # lost while the rest waited to be sent
                raise protocol.lost_error()
            if not await protocol.wait_drained(timeout):
                raise httpcore.WriteTimeout()

    async def aclose(self) -> None:
        if self._transport.get_write_buffer_size():
            # Closing would wait for the peer to take what is left: after a write timeout,
            # forever.
            self._transport.abort()
        else:
            self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        started = perf_counter_ns()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except BaseException as exc:
            self._transport.abort()
            if isinstance(exc, TimeoutError):
                raise httpcore.ConnectTimeout() from None
            if isinstance(exc, OSError):  # ssl.SSLError included
                raise httpcore.ConnectError(str(exc)) from exc
            raise
        if transport is None:  # the peer closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._protocol.transport = transport
        _record_setup(started)
        return _SocketStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # asyncio reads the socket as soon as it is readable, so "readable" here means
            # something arrived or the peer closed: an idle connection that is not reusable.
            protocol = self._protocol
            return bool(protocol.arrivals) or protocol.eof or self._transport.is_closing()
        return None


async def _connect(
    opening: typing.Awaitable[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]],
    timeout: float | None,
) -> _SocketStream:
    started = perf_counter_ns()
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await opening
    except TimeoutError:
        raise httpcore.ConnectTimeout() from None
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    _record_setup(started)
    return _SocketStream(
        typing.cast(asyncio.Transport, transport), typing.cast(_Protocol, protocol)
    )


class _AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP only: :class:`StampingTransport` sets no Unix socket and no socket options."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if socket_options:
            raise ValueError("StampingTransport does not take socket options")
        loop = asyncio.get_running_loop()
        opening = loop.create_connection(
            _Protocol,
            host,
            port,
            local_addr=(local_address, 0) if local_address else None,
            happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY,
        )
        return await _connect(opening, timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class StampingTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (HTTP/1.1) whose sockets stamp reads and writes."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        proxy: str | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        super().__init__(
            verify=verify,
            trust_env=False,
            http1=True,
            http2=False,
            limits=limits or httpx.Limits(max_connections=None, max_keepalive_connections=100),
            proxy=proxy,
        )
        # httpx builds the httpcore pool itself and takes no network backend, so the pool's
        # backend is replaced after the fact; tests/test_transport.py guards this coupling.
        pool = typing.cast(typing.Any, self._pool)
        pool._network_backend = _AsyncioBackend()
