"""An httpx transport that stamps, on the monotonic clock, when bytes cross the socket.

DESIGN section 2 starts TTFT when the request's first byte is written and times every
arrival "when the bytes arrive, before any parsing". httpx parses HTTP framing (h11) before a
body chunk reaches the caller, and builds, pools and connects before it writes, so times taken
around ``client.stream()`` would include client-side work. Instead this module wraps httpcore's
network backend: each socket ``write`` and ``read`` of a probe is stamped at the socket itself.

The stamps go to the :class:`WireTiming` of the probe that is running in the current asyncio
task (a ``ContextVar``), since httpcore performs a request's I/O in the task that sent it.
A connection-setup step (TCP connect, TLS handshake, proxy tunnel) resets the request start, so
only the write of the request itself counts, and the setup time is reported separately.
"""

from __future__ import annotations

import ssl
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from time import perf_counter_ns

import httpcore
import httpx

__all__ = ["StampingTransport", "WireTiming", "wire_timing"]


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


class _StampingStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_inner",)

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        now = perf_counter_ns()
        timing = _current.get()
        if timing is not None:
            timing.last_read_ns = now
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        timing = _current.get()
        if timing is not None and timing.request_started_ns is None and buffer:
            timing.request_started_ns = perf_counter_ns()
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        started = perf_counter_ns()
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        timing = _current.get()
        if timing is not None:
            timing.setup_step(started, perf_counter_ns())
        return _StampingStream(inner)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _StampingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        started = perf_counter_ns()
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        timing = _current.get()
        if timing is not None:
            timing.setup_step(started, perf_counter_ns())
        return _StampingStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        started = perf_counter_ns()
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        timing = _current.get()
        if timing is not None:
            timing.setup_step(started, perf_counter_ns())
        return _StampingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


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
        # backend is wrapped after the fact; tests/test_transport.py guards this coupling.
        pool = typing.cast(typing.Any, self._pool)
        pool._network_backend = _StampingBackend(pool._network_backend)
