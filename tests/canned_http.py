"""A loopback HTTP/1.1 server that answers with responses scripted byte for byte.

For what the simulator does not script (a gateway that drops headers, a body that ends in the
middle of an SSE event, a gateway's own error bodies): each connection gets the next scripted
response (the last one repeats), written as given, and is then closed. Every request's arrival
is stamped on the monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

KEY = "sk-canned-tests-0123456789"


def response(
    status: int,
    body: bytes | str | Mapping[str, Any] = b"",
    headers: Mapping[str, str] | None = None,
    *,
    content_type: str | None = None,
    chunked: bool = False,
) -> bytes:
    """The bytes of one HTTP/1.1 response; a mapping body is sent as JSON.

    The body is framed completely (``content-length``, or chunks and the last chunk), so what a
    test scripts inside it, a cut SSE event say, is all that is wrong with it.
    """
    if isinstance(body, Mapping):
        payload = json.dumps(body).encode()
        content_type = content_type or "application/json"
    else:
        payload = body.encode() if isinstance(body, str) else body
    head = [f"HTTP/1.1 {status} Canned", "connection: close"]
    if content_type:
        head.append(f"content-type: {content_type}")
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if chunked:
        head.append("transfer-encoding: chunked")
        framed = (b"%x\r\n%s\r\n" % (len(payload), payload) if payload else b"") + b"0\r\n\r\n"
    else:
        head.append(f"content-length: {len(payload)}")
        framed = payload
    return ("\r\n".join(head) + "\r\n\r\n").encode() + framed


def sse(*events: str, headers: Mapping[str, str] | None = None, tail: str = "") -> bytes:
    """A 200 event stream of ``data:`` events, each ended by its blank line, then ``tail``
    as is (e.g. an event the stream is cut in the middle of)."""
    body = "".join(f"data: {event}\n\n" for event in events) + tail
    return response(200, body, headers, content_type="text/event-stream", chunked=True)


@dataclass
class CannedServer:
    """Answers the n-th connection with ``responses[n]`` (the last one once they run out)."""

    responses: Sequence[bytes]
    arrivals: list[float] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    url: str = ""
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.arrivals.append(time.monotonic())
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.requests.append(head + await reader.readexactly(length))
            index = min(len(self.arrivals), len(self.responses)) - 1
            writer.write(self.responses[index])
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.handlers.discard(task)


@asynccontextmanager
async def canned_server(*responses: bytes) -> AsyncIterator[CannedServer]:
    """Serve ``responses`` on a free loopback port; ``server.url`` is the OpenAI base URL."""
    canned = CannedServer(responses)
    server = await asyncio.start_server(canned._handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    canned.url = f"http://127.0.0.1:{port}/v1"
    try:
        async with server:
            yield canned
    finally:
        # Python 3.11's server does not wait for its handlers: end them while the loop runs,
        # or a writer collected after the loop closed warns (and warnings fail the tests).
        for task in list(canned.handlers):
            task.cancel()
        await asyncio.gather(*canned.handlers, return_exceptions=True)


def chunk(content: str | None = None, finish: str | None = None) -> str:
    """One OpenAI chat completion chunk (content, or an empty delta with a finish reason)."""
    delta: dict[str, Any] = {} if content is None else {"content": content}
    return json.dumps(
        {
            "id": "chatcmpl-canned",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4.1-nano-2025-04-14",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )
