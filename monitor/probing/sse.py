"""Incremental SSE decoder (WHATWG "event stream interpretation"): bytes in, events out.

Design: the decoder works on bytes and only decodes UTF-8 once a line (or an event's data) is
complete. LF and CR are ASCII, so they never occur inside a multi-byte UTF-8 sequence and the
stream can be cut into lines with C-level ``bytes.split``/``bytes.replace`` instead of a per-byte
loop; a character split across two reads simply sits in the pending-line buffer until its line
ends. Lines are never split with ``str.splitlines()``, which would also break on U+2028, U+0085
and friends that are legal inside event data. A CR that ends one chunk may be the first half of a
CRLF, so the decoder remembers it and drops an LF that starts the next chunk. Memory is bounded by
``max_line_bytes`` per line and ``max_event_bytes`` for one event's data; both are checked
before a line or its data is kept, so a hostile or broken server cannot make us hold more.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import NoReturn

__all__ = ["SSEDecoder", "SSEEvent", "SSEProtocolError"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its data, type, last event id and any ``retry`` it carried."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEProtocolError(Exception):
    """Raised when the stream breaks a size limit; the message names the limit and the size."""


class SSEDecoder:
    """Turns the bytes of an event stream, fed in arbitrary pieces, into ``SSEEvent`` values.

    One decoder decodes one stream. After it raises ``SSEProtocolError`` it stays failed, and after
    ``close()`` it accepts no more input.
    """

    #: Comment lines (``:`` keep-alives) seen so far.
    comments: int
    #: Total bytes passed to ``feed()``, including any BOM and line ends.
    bytes_fed: int

    __slots__ = (
        "_data",
        "_data_len",
        "_dead",
        "_event_type",
        "_first_line",
        "_last_id",
        "_max_event",
        "_max_line",
        "_pending",
        "_pending_len",
        "_retry",
        "_skip_lf",
        "bytes_fed",
        "comments",
    )

    def __init__(self, *, max_line_bytes: int = 1 << 20, max_event_bytes: int = 4 << 20) -> None:
        """Create a decoder that refuses lines or event data longer than the given byte counts."""
        if max_line_bytes < 1 or max_event_bytes < 1:
            raise ValueError(
                f"limits must be >= 1 byte, got max_line_bytes={max_line_bytes}, "
                f"max_event_bytes={max_event_bytes}"
            )
        self._max_line = max_line_bytes
        self._max_event = max_event_bytes
        # Fragments of the unterminated last line: a list, not a growing bytes, so a line that
        # arrives in many small reads costs linear time rather than quadratic.
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._skip_lf = (
            False  # the previous chunk ended with CR: an LF starting this one is its pair
        )
        self._first_line = True  # the BOM may only be stripped from the first line of the stream
        self._data: list[bytes] = []  # the event's data lines, decoded once at dispatch
        self._data_len = 0
        self._event_type = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self._dead: SSEProtocolError | RuntimeError | None = None
        self.comments = 0
        self.bytes_fed = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume the next bytes of the stream and return the events they complete, in order."""
        if self._dead is not None:
            self._refuse()
        size = len(chunk)
        if not size:
            return []
        self.bytes_fed += size
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                size -= 1
                if not size:
                    return []
        if b"\r" in chunk:
            # A trailing CR already ends its line; remember it so the next chunk's LF is not
            # taken for an extra, event-dispatching empty line.
            self._skip_lf = chunk[-1] == 0x0D
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            size = len(chunk)
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if self._pending_len + size > self._max_line:
            self._check_line_lengths(lines, tail)
        if lines:
            if self._pending:
                self._pending.append(lines[0])
                lines[0] = b"".join(self._pending)
                self._pending = []
                self._pending_len = 0
            if self._first_line:
                self._first_line = False
                if lines[0].startswith(_BOM):
                    lines[0] = lines[0][3:]
        if tail:
            self._pending.append(tail)
            self._pending_len += len(tail)
        if not lines:
            return []
        return self._interpret(lines)

    def close(self) -> list[SSEEvent]:
        """End the stream and return the event still pending, leniently dispatching it.

        WHATWG discards an event that the stream ends before its terminating blank line, but real
        LLM servers sometimes close the body right after ``data: [DONE]\\n``; so this deliberately
        treats an unterminated last line and an undispatched event as if a blank line followed.
        What it returns (at most one event) is therefore *unterminated*: a stream cut in the
        middle of an event gives its incomplete data here, and the caller decides whether the
        event is whole (a parseable ``[DONE]``) or the remains of a cut.
        Calling it again returns nothing; ``feed()`` after it raises ``RuntimeError``.
        """
        if self._dead is not None:
            if isinstance(self._dead, RuntimeError):
                return []
            self._refuse()
        self._dead = RuntimeError("feed() called after close()")
        lines = [b""]
        if self._pending:
            last = b"".join(self._pending)
            self._pending = []
            self._pending_len = 0
            if self._first_line and last.startswith(_BOM):
                last = last[3:]
            lines.insert(0, last)
        return self._interpret(lines)

    def _refuse(self) -> NoReturn:
        assert self._dead is not None
        raise type(self._dead)(*self._dead.args)

    def _fail(self, message: str) -> NoReturn:
        error = SSEProtocolError(message)
        self._dead = error
        raise error

    def _check_line_lengths(self, lines: list[bytes], tail: bytes) -> None:
        # Only reached when this chunk plus the pending line could hold an over-long line, so the
        # common small chunk never pays for it. Terminated lines are held to the same limit as the
        # pending one, or whether a stream fails would depend on how it happened to be split.
        if lines:
            first = self._pending_len + len(lines[0])
            longest = max(first, *map(len, lines[1:])) if len(lines) > 1 else first
            if longest > self._max_line:
                self._fail(f"SSE line of {longest} bytes exceeds max_line_bytes={self._max_line}")
            pending = len(tail)
        else:
            pending = self._pending_len + len(tail)
        if pending > self._max_line:
            self._fail(
                f"unterminated SSE line of at least {pending} bytes exceeds "
                f"max_line_bytes={self._max_line}"
            )

    def _interpret(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    payload = data[0] if len(data) == 1 else b"\n".join(data)
                    events.append(
                        SSEEvent(
                            payload.decode("utf-8", "replace"),
                            self._event_type or "message",
                            self._last_id,
                            self._retry,
                        )
                    )
                    data.clear()
                    self._data_len = 0
                self._event_type = ""
                self._retry = None
                continue
            if line.startswith(b"data:"):  # the hot path: nearly every LLM line is a data line
                value = line[6:] if line[5:6] == b" " else line[5:]
                self._append_data(value)
                continue
            if line[0] == 0x3A:  # counted because keep-alives matter when diagnosing a stall
                self.comments += 1
                continue
            colon = line.find(b":")
            if colon < 0:
                name = line
                value = b""
            else:
                name = line[:colon]
                value = (
                    line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
                )
            if name == b"data":
                self._append_data(value)
            elif name == b"event":
                self._event_type = value.decode("utf-8", "replace")
            elif name == b"id":
                if b"\x00" not in value:
                    self._last_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():  # unlike str's, accepts only ASCII digits
                # More digits than int() accepts is no sane delay either: ignore it too.
                with suppress(ValueError):
                    self._retry = int(value)
        return events

    def _append_data(self, value: bytes) -> None:
        size = self._data_len + len(value) + 1  # + 1: WHATWG appends an LF per data line
        if size > self._max_event:
            self._fail(
                f"SSE event data of at least {size} bytes exceeds max_event_bytes={self._max_event}"
            )
        self._data.append(value)
        self._data_len = size
