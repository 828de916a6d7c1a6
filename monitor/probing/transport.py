"""An httpx transport that stamps when bytes cross the socket, by the kernel's clock if it can.

TTFT starts when the request's first byte is written and every arrival is timed when its bytes
arrive, before any parsing (docs/design.md#request-start, #arrival-time). httpx parses HTTP framing
(h11) before a body chunk reaches the caller, and builds, pools and connects before it writes, so
times taken around ``client.stream()`` would include client-side work. Instead this module gives
httpcore its own network backend, which owns its sockets:

- a request starts when its first byte is handed to the socket (``send`` on a non-blocking
  socket, at once);
- each read is one ``recvmsg`` made as soon as the event loop sees the socket readable. On Linux
  the socket has ``SO_TIMESTAMPNS`` set, and the read comes with the time the kernel received its
  newest segment: that time, moved from the kernel's real-time clock to the monotonic clock
  (``perf_counter_ns``), is the arrival, however late the process got to the read (a stopped
  process, a busy loop, a CPU quota). Without such a stamp (another OS, the option refused, a
  stamp that a clock step makes impossible) the arrival is the time of the read itself, taken
  right after it. Each read is kept with its own stamp until the stream asks for it, so every
  byte keeps the stamp of the read that brought it.
- TLS is decrypted in memory (``ssl.MemoryBIO``): the plaintext of a record takes the stamp of the
  raw read that completed the record.

The limit (docs/design.md#arrival-time): segments that arrive while nobody reads are merged by
the kernel and the read carries the newest one's stamp, so an event is stamped exactly when
nothing arrived behind it before the read, and never later than the read otherwise.

The stamps go to the :class:`WireTiming` of the probe that is running in the current asyncio
task (a ``ContextVar``), since httpcore performs a request's I/O in the task that sent it.
A connection-setup step (TCP connect, TLS handshake, proxy tunnel) resets the request start, so
only the write of the request itself counts, and the setup time is reported separately.

The backend raises the exceptions httpcore's own backends raise (``ConnectError``,
``ReadTimeout``, ...), which httpx maps to its own, so callers see no difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import platform
import socket
import ssl
import struct
import sys
import time
import typing
from asyncio import staggered
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from time import perf_counter_ns

import httpcore
import httpx

from monitor.config import kernel_stamps_wanted
from monitor.core.result import KERNEL_STAMPS, LOOP_STAMPS

__all__ = [
    "StampingTransport",
    "WireTiming",
    "kernel_stamps_available",
    "wire_timing",
]

#: Bytes received and not yet read past which the socket stops being read (a probe reads as
#: fast as the endpoint sends, so this bounds memory only against a flood).
_READ_HIGH_WATER = 256 * 1024
#: How far below which reading resumes.
_READ_LOW_WATER = 64 * 1024
#: The most one ``recvmsg`` takes.
_READ_SIZE = 64 * 1024
#: anyio's (httpcore's default backend) delay between connection attempts to a host's
#: addresses (RFC 8305).
_HAPPY_EYEBALLS_DELAY = 0.25

# SO_TIMESTAMPNS (the "old" one, whose stamp is a native struct timespec) and its control
# message type share a number. Python does not name it; 35 is its number on the Linux
# architectures listed (other architectures number their socket options differently).
_LINUX_SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@ll")
_STAMPING_MACHINES = frozenset(
    {"x86_64", "amd64", "i386", "i686", "aarch64", "arm64", "armv7l", "armv8l", "riscv64",
     "ppc64le", "ppc64", "s390x", "loongarch64"}
)  # fmt: skip


def _so_timestamp_ns() -> int | None:
    named = getattr(socket, "SO_TIMESTAMPNS", None)
    if isinstance(named, int):
        return named
    if sys.platform == "linux" and platform.machine().lower() in _STAMPING_MACHINES:
        return _LINUX_SO_TIMESTAMPNS
    return None


#: The socket option that makes the kernel stamp each read, or None where there is none.
_SO_TIMESTAMPNS = _so_timestamp_ns()
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) if _SO_TIMESTAMPNS is not None else 0


def kernel_stamps_available() -> bool:
    """Whether this platform can give kernel receive stamps (a socket may still refuse)."""
    return _SO_TIMESTAMPNS is not None


@dataclass(slots=True)
class WireTiming:
    """Monotonic stamps (``perf_counter_ns``) of one probe's socket activity."""

    setup_started_ns: int | None = None
    setup_ended_ns: int | None = None
    request_started_ns: int | None = None
    last_read_ns: int | None = None
    #: Reads stamped by the kernel and by the loop, over the probe's responses.
    kernel_reads: int = 0
    loop_reads: int = 0

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

    @property
    def stamp_source(self) -> str | None:
        """``kernel`` when every read of the response had a kernel stamp, ``loop`` when one had
        the loop's read time instead, None when nothing was read."""
        if self.loop_reads:
            return LOOP_STAMPS
        return KERNEL_STAMPS if self.kernel_reads else None

    def setup_step(self, started_ns: int, ended_ns: int) -> None:
        """Record a connection-setup step; the request has not started before it ended."""
        if self.setup_started_ns is None:
            self.setup_started_ns = started_ns
        self.setup_ended_ns = ended_ns
        self.request_started_ns = None
        self.kernel_reads = self.loop_reads = 0


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


#: One read: (arrival on the monotonic clock, whether the kernel stamped it, its bytes).
_Arrival = tuple[int, bool, bytes]


class _Channel(typing.Protocol):
    """What a TLS layer needs of what it runs over: reads one at a time, with their stamps."""

    async def receive(self, max_bytes: int, timeout: float | None) -> _Arrival: ...
    async def send(self, data: bytes, timeout: float | None) -> None: ...
    def readable(self) -> bool: ...
    def close(self) -> None: ...


class _Socket:
    """A connected non-blocking TCP socket, read by the event loop into stamped arrivals."""

    def __init__(
        self, sock: socket.socket, loop: asyncio.AbstractEventLoop, *, kernel_stamps: bool
    ) -> None:
        self.sock = sock
        self._loop = loop
        self._fd = sock.fileno()
        self.kernel = False
        if kernel_stamps and _SO_TIMESTAMPNS is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self.kernel = True
            except OSError:
                pass
        self.arrivals: deque[_Arrival] = deque()
        self.buffered = 0
        self.eof = False
        self.error: OSError | None = None
        self.closed = False
        #: The newest arrival so far, or the last send if later: no read can have arrived
        #: before either.
        self._newest_ns = 0
        self._unsent = bytearray()
        self._reading = True
        self._read_waiter: asyncio.Future[bool] | None = None
        self._drain_waiter: asyncio.Future[bool] | None = None
        loop.add_reader(self._fd, self._on_readable)

    # the loop's callbacks

    def _on_readable(self) -> None:
        try:
            if self.kernel:
                data, ancillary, _flags, _address = self.sock.recvmsg(_READ_SIZE, _ANCILLARY_SIZE)
            else:
                data, ancillary = self.sock.recv(_READ_SIZE), []
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        read_ns = perf_counter_ns()
        if not data:
            self._lost(None)
            return
        arrived = self._kernel_arrival(ancillary, read_ns) if ancillary else None
        if arrived is None:
            self.arrivals.append((read_ns, False, data))
            self._newest_ns = read_ns
        else:
            self.arrivals.append((arrived, True, data))
            self._newest_ns = arrived
        self.buffered += len(data)
        if self.buffered > _READ_HIGH_WATER:
            self._stop_reading()
        _wake(self._read_waiter)

    def _kernel_arrival(self, ancillary: list[tuple[int, int, bytes]], read_ns: int) -> int | None:
        """The kernel's stamp on the monotonic clock, or None if it has none or it is not
        plausible (a real-time clock step between the arrival and now moves it by the step)."""
        for level, kind, data in ancillary:
            if (
                level == socket.SOL_SOCKET
                and kind == _SO_TIMESTAMPNS
                and len(data) >= _TIMESPEC.size
            ):
                seconds, nanoseconds = _TIMESPEC.unpack_from(data)
                # The offset between the clocks, measured now, at this read.
                offset = perf_counter_ns() - time.time_ns()
                arrived: int = seconds * 1_000_000_000 + nanoseconds + offset
                if self._newest_ns <= arrived <= read_ns:
                    return arrived
                return None
        return None

    def _on_writable(self) -> None:
        try:
            sent = self.sock.send(self._unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._unsent[:sent]
        if not self._unsent:
            self._loop.remove_writer(self._fd)
            _wake(self._drain_waiter)

    def _lost(self, exc: OSError | None) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._stop_reading()
        if self._unsent:
            self._loop.remove_writer(self._fd)
        _wake(self._read_waiter)
        _wake(self._drain_waiter)

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    # the channel

    def readable(self) -> bool:
        return bool(self.arrivals) or self.eof

    async def receive(self, max_bytes: int, timeout: float | None) -> _Arrival:
        arrivals = self.arrivals
        if not arrivals:
            if not self.eof and not await self._wait_readable(timeout):
                raise httpcore.ReadTimeout()
            if not arrivals:
                if self.error is not None:
                    raise httpcore.ReadError(str(self.error)) from self.error
                return (perf_counter_ns(), False, b"")
        arrived, kernel, data = arrivals[0]
        if len(data) > max_bytes:
            arrivals[0] = (arrived, kernel, data[max_bytes:])
            data = data[:max_bytes]
        else:
            arrivals.popleft()
        self.buffered -= len(data)
        if not self._reading and not self.eof and self.buffered <= _READ_LOW_WATER:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)
        return arrived, kernel, data

    async def send(self, data: bytes, timeout: float | None) -> None:
        if self.eof or self.closed:
            raise self._lost_error()
        self._newest_ns = max(self._newest_ns, perf_counter_ns())
        if not self._unsent:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lost(exc)
                raise httpcore.WriteError(str(exc)) from exc
            if sent == len(data):
                return
            self._unsent += data[sent:]
            self._loop.add_writer(self._fd, self._on_writable)
        else:
            self._unsent += data
        while self._unsent:
            if self.eof:  # lost while the rest waited to be sent
                raise self._lost_error()
            if not await self._wait_drained(timeout):
                raise httpcore.WriteTimeout()

    def _lost_error(self) -> httpcore.WriteError:
        return httpcore.WriteError(str(self.error) if self.error else "the connection closed")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stop_reading()
        if self._unsent:
            self._loop.remove_writer(self._fd)
            # Closing would leave the kernel sending the rest to a peer that may never take it:
            # reset the connection instead.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._unsent.clear()
        self.sock.close()
        self.eof = True
        _wake(self._read_waiter)
        _wake(self._drain_waiter)

    async def _wait_readable(self, timeout: float | None) -> bool:
        waiter = self._loop.create_future()
        self._read_waiter = waiter
        try:
            return await _wait(waiter, timeout)
        finally:
            self._read_waiter = None

    async def _wait_drained(self, timeout: float | None) -> bool:
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        try:
            return await _wait(waiter, timeout)
        finally:
            self._drain_waiter = None


class _TLS:
    """TLS over a channel, in memory: each record's plaintext has its completing read's stamp."""

    def __init__(
        self, inner: _Channel, context: ssl.SSLContext, server_hostname: str | None
    ) -> None:
        self.inner = inner
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.ssl_object = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_hostname
        )
        #: The stamp of the newest raw read fed to the decryption.
        self._stamp: tuple[int, bool] = (0, False)
        self.eof = False

    async def handshake(self) -> None:
        while True:
            try:
                self.ssl_object.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush(None)
                if not await self._feed(None):
                    raise httpcore.ConnectError(
                        "the connection closed during the TLS handshake"
                    ) from None
            else:
                await self._flush(None)
                return

    async def _flush(self, timeout: float | None) -> None:
        pending = self._outgoing.read()
        if pending:
            await self.inner.send(pending, timeout)

    async def _feed(self, timeout: float | None) -> bool:
        arrived, kernel, raw = await self.inner.receive(_READ_SIZE, timeout)
        if not raw:
            self._incoming.write_eof()
            return False
        self._incoming.write(raw)
        self._stamp = (arrived, kernel)
        return True

    def readable(self) -> bool:
        return self._incoming.pending > 0 or self.eof or self.inner.readable()

    async def receive(self, max_bytes: int, timeout: float | None) -> _Arrival:
        while not self.eof:
            try:
                data = self.ssl_object.read(max_bytes)
            except ssl.SSLWantReadError:
                await self._flush(timeout)  # a key update or a ticket's answer, if any
                await self._feed(timeout)
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                # close_notify, or the peer closed without it: the end, as for plain TCP (HTTP
                # framing says whether the body was whole).
                self.eof = True
                break
            except ssl.SSLError as exc:
                raise httpcore.ReadError(str(exc)) from exc
            if data:
                arrived, kernel = self._stamp
                return arrived, kernel, data
            self.eof = True
        return (perf_counter_ns(), False, b"")

    async def send(self, data: bytes, timeout: float | None) -> None:
        view = memoryview(data)
        while view:
            try:
                written = self.ssl_object.write(view)
            except ssl.SSLError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            view = view[written:]
            await self._flush(timeout)

    def close(self) -> None:
        if not self.eof:
            with contextlib.suppress(ssl.SSLError):
                self.ssl_object.unwrap()  # queues close_notify
            pending = self._outgoing.read()
            if pending and isinstance(self.inner, _Socket) and not self.inner.closed:
                with contextlib.suppress(OSError):
                    self.inner.sock.send(pending)  # best effort: never waits
        self.eof = True
        self.inner.close()


def _raw_socket(channel: _Channel | _TLS) -> _Socket | None:
    while isinstance(channel, _TLS):
        channel = channel.inner
    return channel if isinstance(channel, _Socket) else None


class _Stream(httpcore.AsyncNetworkStream):
    """One connection, plain or TLS: reads and writes stamped, errors as httpcore expects."""

    __slots__ = ("_channel",)

    def __init__(self, channel: _Socket | _TLS) -> None:
        self._channel = channel

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        arrived, kernel, data = await self._channel.receive(max_bytes, timeout)
        if data:
            timing = _current.get()
            if timing is not None:
                timing.last_read_ns = arrived
                if kernel:
                    timing.kernel_reads += 1
                else:
                    timing.loop_reads += 1
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        timing = _current.get()
        if timing is not None and timing.request_started_ns is None:
            timing.request_started_ns = perf_counter_ns()
        await self._channel.send(buffer, timeout)

    async def aclose(self) -> None:
        self._channel.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        started = perf_counter_ns()
        tls = _TLS(self._channel, ssl_context, server_hostname)
        try:
            async with asyncio.timeout(timeout):
                await tls.handshake()
        except BaseException as exc:
            self._channel.close()
            if isinstance(exc, TimeoutError):
                raise httpcore.ConnectTimeout() from None
            if isinstance(exc, httpcore.ConnectError):
                raise
            if isinstance(exc, (OSError, httpcore.NetworkError)):  # ssl.SSLError included
                raise httpcore.ConnectError(str(exc)) from exc
            raise
        _record_setup(started)
        return _Stream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        channel = self._channel
        raw = _raw_socket(channel)
        if info == "ssl_object":
            return channel.ssl_object if isinstance(channel, _TLS) else None
        if raw is None or raw.closed:
            return None
        if info == "client_addr":
            return raw.sock.getsockname()
        if info == "server_addr":
            return raw.sock.getpeername()
        if info == "socket":
            return raw.sock
        if info == "is_readable":
            # The loop reads the socket as soon as it is readable, so "readable" here means
            # something arrived or the peer closed: an idle connection that is not reusable.
            return channel.readable()
        return None


def _literal_address(host: str, port: int) -> list[typing.Any] | None:
    """The one address of an IP literal, without asking the resolver (which runs in a thread)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        address = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
    return None


async def _open_socket(host: str, port: int, local_address: str | None) -> socket.socket:
    """A connected non-blocking TCP socket to one of ``host``'s addresses (RFC 8305)."""
    loop = asyncio.get_running_loop()
    infos = _literal_address(host, port)
    if infos is None:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"no address for {host}")
    # Alternate the address families, as RFC 8305 and asyncio do.
    by_family: dict[int, list[typing.Any]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    ordered: list[typing.Any] = []
    queues = list(by_family.values())
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    opened: list[socket.socket] = []

    async def attempt(info: typing.Any) -> socket.socket:
        family, kind, proto, _name, address = info
        sock = socket.socket(family, kind, proto)
        opened.append(sock)
        sock.setblocking(False)
        if local_address:
            sock.bind((local_address, 0))
        await loop.sock_connect(sock, address)
        return sock

    if len(ordered) == 1:  # nothing to race
        try:
            sock = await attempt(ordered[0])
        except BaseException:
            for opened_sock in opened:
                opened_sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    winner: socket.socket | None = None
    try:
        winner, _index, errors = await staggered.staggered_race(
            [functools.partial(attempt, info) for info in ordered], _HAPPY_EYEBALLS_DELAY
        )
    finally:  # cancelled (a connect timeout) or not, only the winner stays open
        for sock in opened:
            if sock is not winner:
                sock.close()
    if winner is None:
        failures = [error for error in errors if error is not None]
        if len({str(error) for error in failures}) == 1:
            raise failures[0]
        raise OSError("; ".join(str(error) for error in failures) or f"could not connect to {host}")
    winner.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return winner


class _Backend(httpcore.AsyncNetworkBackend):
    """TCP only: :class:`StampingTransport` sets no Unix socket and no socket options."""

    def __init__(self, *, kernel_stamps: bool) -> None:
        self._kernel_stamps = kernel_stamps

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
        started = perf_counter_ns()
        try:
            async with asyncio.timeout(timeout):
                sock = await _open_socket(host, port, local_address)
        except TimeoutError:
            raise httpcore.ConnectTimeout() from None
        except OSError as exc:  # socket.gaierror included
            raise httpcore.ConnectError(str(exc)) from exc
        _record_setup(started)
        loop = asyncio.get_running_loop()
        return _Stream(_Socket(sock, loop, kernel_stamps=self._kernel_stamps))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class StampingTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (HTTP/1.1) whose sockets stamp reads and writes.

    ``kernel_stamps`` (default: ``LLM_MONITOR_KERNEL_STAMPS``, itself on by default) uses the
    kernel's receive stamps where the system gives them; off, every arrival is the loop's read
    time."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        proxy: str | None = None,
        limits: httpx.Limits | None = None,
        kernel_stamps: bool | None = None,
    ) -> None:
        if kernel_stamps is None:
            kernel_stamps = kernel_stamps_wanted()
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
        pool._network_backend = _Backend(kernel_stamps=kernel_stamps)
