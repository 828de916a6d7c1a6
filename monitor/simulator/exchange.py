"""The asyncio side: one Protocol per connection and a timer-driven writer per response.

No coroutine per request or per chunk: a response is a script of timed steps, and one
``loop.call_at`` timer at a time walks it, writing every step that is due in a single
``transport.write`` and stamping the ground truth right after each write.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import Protocol

from monitor.simulator.http11 import (
    CHUNKED_END,
    CONTINUE,
    ParseError,
    Request,
    chunk,
    parse_request,
    wants_continue,
)
from monitor.simulator.script import CONTENT, DONE_FLAG, HEAD, USAGE, Script
from monitor.simulator.truth import TruthRecord

#: Steps due within this many seconds of now go out in the current write. Timers fire up to a
#: millisecond late anyway (epoll's resolution); the truth records the real send time.
COALESCE = 0.0002
#: Most flood bytes written in one go before other connections get the loop again.
FLOOD_BURST = 1 << 20

_perf_ns = time.perf_counter_ns


class Handler(Protocol):
    """What a connection hands complete requests to."""

    def handle(
        self, conn: Connection, request: Request, received_ns: int, received_at: float
    ) -> bool | None:
        """Answer now (return keep-alive) or start an exchange on ``conn`` (return None)."""

    def parse_failed(self, conn: Connection, error: ParseError) -> None:
        """Answer a request that could not be parsed."""


class Connection(asyncio.Protocol):
    """One client connection: buffers bytes, stamps arrival, runs one exchange at a time."""

    def __init__(
        self, handler: Handler, loop: asyncio.AbstractEventLoop, registry: set[Connection]
    ) -> None:
        self.handler = handler
        self.loop = loop
        self.registry = registry
        self.transport: asyncio.Transport | None = None
        self.peer: str = ""
        self.exchange: Exchange | None = None
        self.buffer = bytearray()
        self.arrived_ns = 0
        self.arrived_at = 0.0
        self.continued = False
        # Set while the transport's write buffer is above its high-water mark: a flood waits.
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self.registry.add(self)

    def data_received(self, data: bytes) -> None:
        if not self.buffer:
            # Stamp before anything else: this is the request's first byte.
            self.arrived_ns = _perf_ns()
            self.arrived_at = self.loop.time()
        self.buffer += data
        if self.exchange is None:
            self._serve_buffered()

    def _serve_buffered(self) -> None:
        while self.exchange is None and self.buffer and self.transport is not None:
            try:
                parsed = parse_request(self.buffer)
            except ParseError as error:
                self.buffer.clear()
                self.handler.parse_failed(self, error)
                return
            if parsed is None:
                if not self.continued and wants_continue(self.buffer):
                    self.continued = True
                    self.write(CONTINUE)
                return
            request, used = parsed
            self.continued = False
            received_ns, received_at = self.arrived_ns, self.arrived_at
            del self.buffer[:used]
            if self.buffer:
                self.arrived_ns, self.arrived_at = _perf_ns(), self.loop.time()
            keep_alive = self.handler.handle(self, request, received_ns, received_at)
            if keep_alive is False:
                self.close()
                return

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.exchange is not None:
            self.exchange.resume()

    def exchange_done(self, keep_alive: bool) -> None:
        """The running exchange finished writing its response."""
        self.exchange = None
        if not keep_alive:
            self.close()
        elif self.buffer:
            self._serve_buffered()

    def write(self, data: bytes) -> int:
        """Write ``data`` and return the perf_counter_ns right after the write."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        return _perf_ns()

    def close(self) -> None:
        """Close after flushing what is buffered (a FIN, not a reset)."""
        if self.transport is not None:
            self.transport.close()

    def reset(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0, then abort)."""
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone: nothing left to reset
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.discard(self)
        exchange = self.exchange
        self.exchange = None
        self.transport = None
        if exchange is not None:
            exchange.lost("client_closed")


class Exchange:
    """Writes one script on one connection, step by step on a single timer."""

    __slots__ = (
        "conn",
        "dripped",
        "flooded",
        "handle",
        "index",
        "keep_alive",
        "record",
        "script",
        "started_at",
    )

    def __init__(
        self,
        conn: Connection,
        record: TruthRecord,
        script: Script,
        started_at: float,
        keep_alive: bool,
    ) -> None:
        self.conn = conn
        self.record = record
        self.script = script
        self.started_at = started_at
        self.keep_alive = keep_alive
        self.index = 0
        self.handle: asyncio.Handle | None = None
        self.flooded: int | None = None  # flood bytes written so far, once the flood began
        self.dripped: int | None = None  # drip mode: body bytes of the current step written

    def start(self) -> None:
        """Begin: schedule the first step (or end at once if there is none)."""
        self.conn.exchange = self
        if self.script.steps:
            self._schedule()
        else:
            self._end()

    def _schedule(self) -> None:
        due = self.started_at + self.script.steps[self.index].at
        self.handle = self.conn.loop.call_at(due, self._run)

    def _run(self) -> None:
        self.handle = None
        script = self.script
        if script.drip is not None:
            self._drip(script.drip)
            return
        steps = script.steps
        count = len(steps)
        limit = self.conn.loop.time() - self.started_at + COALESCE if script.coalesce else -1.0
        index = self.index
        raw: list[bytes] = []
        body: list[bytes] = []
        flags = chunks = tokens = answers = 0
        text = ""
        while index < count and (index == self.index or steps[index].at <= limit):
            step = steps[index]
            if step.raw:
                raw.append(step.raw)
            if step.body:
                body.append(step.body)
            if step.flags & CONTENT:
                chunks += 1
                tokens += step.tokens
                if not step.reasoning:
                    answers += 1
                    text += step.text
            flags |= step.flags
            index += 1
        self.index = index
        final = index >= count
        payload = b"".join(raw)
        if body:
            joined = b"".join(body)
            payload += chunk(joined) if script.chunked else joined
        if final and script.chunked and script.ending == "keep" and script.flood is None:
            payload += CHUNKED_END
        sent_ns = self.conn.write(payload) if payload else _perf_ns()
        self._note(sent_ns, flags, chunks, tokens, text, answers)
        self._next(final)

    def _note(
        self, sent_ns: int, flags: int, chunks: int, tokens: int, text: str, answers: int = 0
    ) -> None:
        """Stamp the ground truth of what the write at ``sent_ns`` carried (``answers`` of its
        ``chunks`` content chunks are the answer's, the rest streamed reasoning)."""
        script = self.script
        record = self.record
        if flags & HEAD:
            record.headers_sent_ns = sent_ns
            record.status = script.status
        if chunks:
            if record.first_content_sent_ns is None:
                record.first_content_sent_ns = sent_ns
                record.first_write_chunks = chunks
            record.last_content_sent_ns = sent_ns
            record.content_chunks += chunks
            record.output_tokens += tokens
            record.text += text
        if answers and record.first_answer_sent_ns is None:
            record.first_answer_sent_ns = sent_ns
        if flags & USAGE and script.usage is not None:
            record.usage_prompt_tokens, record.usage_completion_tokens = script.usage
        if flags & DONE_FLAG:
            record.done_sent_ns = sent_ns
            record.finish_reason = script.finish_reason

    def _next(self, final: bool) -> None:
        if final and self.script.flood is not None:
            self.flooded = 0
            self._pump()
        elif final:
            self._end()
        else:
            self._schedule()

    def _drip(self, interval: float) -> None:
        """Drip mode: the first step's head when due, then every body byte ``interval`` apart.

        One byte per timer, computed as it goes: a drip that outlasts any client timeout would
        otherwise cost a step object per byte, built up front on the loop.
        """
        script = self.script
        steps = script.steps
        step = steps[self.index]
        if self.dripped is None:  # the head goes alone, at the first step's time
            self.dripped = 0
            sent_ns = self.conn.write(step.raw) if step.raw else _perf_ns()
            self._note(sent_ns, step.flags & HEAD, 0, 0, "")
        else:
            body = step.body
            if body:
                piece = body[self.dripped : self.dripped + 1]
                sent_ns = self.conn.write(chunk(piece) if script.chunked else piece)
                self.dripped += 1
            else:
                sent_ns = _perf_ns()
            if self.dripped >= len(body):  # the step's last byte carries its meaning
                content = 1 if step.flags & CONTENT else 0
                answer = 0 if step.reasoning else content
                text = "" if step.reasoning else step.text
                self._note(sent_ns, step.flags & ~HEAD, content, step.tokens, text, answer)
                self.index += 1
                self.dripped = 0
        final = self.index >= len(steps)
        if final and script.chunked and script.ending == "keep" and script.flood is None:
            self.conn.write(CHUNKED_END)
        if final:
            self._next(final)
        else:
            self.handle = self.conn.loop.call_later(interval, self._run)

    def resume(self) -> None:
        """The client drained the write buffer: go on with a flood that waited for it."""
        if self.flooded is not None and self.handle is None:
            self._pump()

    def _pump(self) -> None:
        """Write flood bytes while the client keeps reading (flow control bounds the buffer)."""
        self.handle = None
        flood = self.script.flood
        assert flood is not None and self.flooded is not None
        conn = self.conn
        chunked = self.script.chunked
        burst = 0
        while self.flooded < flood.total:
            transport = conn.transport
            if transport is None or transport.is_closing() or conn.paused:
                return  # resume_writing() or connection_lost() takes it from here
            if burst >= FLOOD_BURST:
                self.handle = conn.loop.call_soon(self._pump)
                return
            unit = flood.unit[: flood.total - self.flooded]
            conn.write(chunk(unit) if chunked else unit)
            self.flooded += len(unit)
            burst += len(unit)
        tail = chunk(flood.tail) if chunked and flood.tail else flood.tail
        if chunked and self.script.ending == "keep":
            tail += CHUNKED_END
        if tail:
            conn.write(tail)
        self.flooded = None
        self._end()

    def _end(self) -> None:
        ending = self.script.ending
        record = self.record
        conn = self.conn
        if ending == "hang":
            record.ending = "hang"
            return
        if ending == "keep":
            record.ending = "complete"
            conn.exchange_done(self.keep_alive)
            return
        if ending == "close":
            # A close-delimited body: closing the connection (a FIN) is how it ends.
            record.ending = "complete"
            record.closed_ns = _perf_ns()
            conn.exchange = None
            conn.close()
            return
        record.ending = "aborted" if ending == "abort" else "reset"
        record.closed_ns = _perf_ns()
        conn.exchange = None
        if ending == "abort":
            conn.close()
        else:
            conn.reset()

    def lost(self, why: str) -> None:
        """The connection went away (or the server stops): stop writing, note when and why."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        record = self.record
        if record.closed_ns is None:
            record.closed_ns = _perf_ns()
        if record.ending is None:
            record.ending = why
