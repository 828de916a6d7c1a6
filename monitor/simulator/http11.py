"""A minimal HTTP/1.1 request parser and response writer (no pipelining, no chunked uploads).

Only what the OpenAI SDK, httpx and curl send is needed: a request line, headers and a
``Content-Length`` body. Responses are written by the caller; this module only formats the
status line, the headers and the chunked-encoding frames.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import parse_qsl, unquote

MAX_HEAD = 64 * 1024
MAX_BODY = 8 * 1024 * 1024

REASONS: dict[int, str] = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

CHUNKED_END = b"0\r\n\r\n"


class ParseError(Exception):
    """The bytes are not a request we can serve; ``status`` says which HTTP error to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request. Header names are lower-case; repeated headers are comma-joined."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


def parse_request(buffer: bytes | bytearray) -> tuple[Request, int] | None:
    """Parse one request from the start of ``buffer``: (request, bytes used), or None if partial."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise ParseError(431, "request head too large")
        return None
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ParseError(400, f"bad request line {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ParseError(400, f"bad header line {line[:100]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise ParseError(411, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise ParseError(400, "bad Content-Length") from None
    if length < 0:
        raise ParseError(400, "bad Content-Length")
    if length > MAX_BODY:
        raise ParseError(413, "request body too large")
    start = end + 4
    if len(buffer) < start + length:
        return None
    body = bytes(buffer[start : start + length])
    raw_path, _, raw_query = target.partition("?")
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    request = Request(
        method=method,
        target=target,
        path=unquote(raw_path),
        query=dict(parse_qsl(raw_query, keep_blank_values=True)),
        headers=headers,
        body=body,
        keep_alive=keep_alive,
    )
    return request, start + length


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def wants_continue(buffer: bytes | bytearray) -> bool:
    """Whether a buffered, body-less request head asks for ``100 Continue`` (curl does)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return False
    return b"\r\nexpect: 100-continue" in bytes(buffer[:end]).lower()


def response_head(
    status: int, headers: Sequence[tuple[str, str]], version: str = "HTTP/1.1"
) -> bytes:
    """The status line and header block, ending with the blank line."""
    lines = [f"{version} {status} {REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class HttpDate:
    """The ``Date`` header value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        """The current time in IMF-fixdate form."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True)
        return self._value
