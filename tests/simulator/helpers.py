"""Test helpers: a config factory, a byte-level HTTP client, an SSE splitter, and a wait for
the simulator's record of a request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from monitor.simulator import RequestTruth, Simulator, SimulatorConfig

OPENAI_KEY = "sk-sim-openai-0123456789abcdef"
AZURE_KEY = "azure-sim-key-0123456789"
ENTRA_TOKEN = "entra-id-token-for-tests"
DEPLOYMENT = "gpt-41-nano"
MODEL = "gpt-4.1-nano-2025-04-14"
API_VERSION = "2024-10-21"

FAST: dict[str, Any] = {
    "ttft": "20ms",
    "tokens_per_second": 2000,
    "output_tokens": 23,  # "1 2 … 12": 12 numbers and the 11 spaces between them
    "first_byte_fraction": 0.5,
}


def make_config(
    openai: dict[str, Any] | None = None, azure: dict[str, Any] | None = None, **top: Any
) -> SimulatorConfig:
    """Two fast endpoints, ``openai`` and ``azure``, with overrides."""
    data: dict[str, Any] = {
        "port": 0,
        "seed": 7,
        "endpoints": [
            {"id": "openai", "flavor": "openai", "api_key": OPENAI_KEY, **FAST, **(openai or {})},
            {
                "id": "azure",
                "flavor": "azure",
                "api_key": AZURE_KEY,
                "bearer_tokens": [ENTRA_TOKEN],
                "deployments": [DEPLOYMENT],
                **FAST,
                **(azure or {}),
            },
        ],
    }
    data.update(top)
    return SimulatorConfig.model_validate(data)


def chat_body(**extra: Any) -> dict[str, Any]:
    """A chat completion request like the monitor's probe."""
    body: dict[str, Any] = {
        "model": "gpt-4.1-nano",
        "messages": [{"role": "user", "content": "Count from 1 to 40, separated by spaces."}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body.update(extra)
    if not body["stream"]:
        del body["stream_options"]
    return body


def openai_headers() -> dict[str, str]:
    """Headers with the simulator's OpenAI key."""
    return {"Authorization": f"Bearer {OPENAI_KEY}"}


def azure_path(deployment: str = DEPLOYMENT, version: str | None = API_VERSION) -> str:
    """The deployments chat path of the ``azure`` endpoint."""
    query = "" if version is None else f"?api-version={version}"
    return f"/azure/openai/deployments/{deployment}/chat/completions{query}"


@dataclass
class RawResponse:
    """One response as bytes, with the arrival time of every read."""

    status_line: str
    headers: list[tuple[str, str]]
    raw_head: bytes
    raw_body: bytes
    body: bytes
    chunk_sizes: list[int] = field(default_factory=list)
    complete: bool = False
    reads: list[tuple[int, bytes]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def status(self) -> int:
        """The status code."""
        return int(self.status_line.split(" ")[1])


def encode_request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> bytes:
    """An HTTP/1.1 request as bytes."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    all_headers = dict(headers or {})
    if body is not None:
        all_headers.setdefault("Content-Type", "application/json")
        all_headers["Content-Length"] = str(len(body))
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class RawConnection:
    """A keep-alive connection that reads responses byte by byte, stamping each read."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._pending = b""
        self.reads: list[tuple[int, bytes]] = []

    @classmethod
    async def open(cls, port: int) -> RawConnection:
        """Connect to the simulator."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def close(self) -> None:
        """Close the connection (tolerating a peer that already reset it)."""
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    async def _fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            return False
        self.reads.append((time.perf_counter_ns(), data))
        self._pending += data
        return True

    async def _until(self, marker: bytes) -> bytes | None:
        while marker not in self._pending:
            if not await self._fill():
                return None
        index = self._pending.index(marker) + len(marker)
        out, self._pending = self._pending[:index], self._pending[index:]
        return out

    async def _exactly(self, count: int) -> bytes | None:
        while len(self._pending) < count:
            if not await self._fill():
                return None
        out, self._pending = self._pending[:count], self._pending[count:]
        return out

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | dict[str, Any] | None = None,
    ) -> RawResponse:
        """Send one request and read its whole response (to EOF if the body is cut)."""
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        self.reads = []
        self.writer.write(encode_request(method, path, headers, payload))
        await self.writer.drain()
        return await self.read_response()

    async def read_response(self) -> RawResponse:
        """Read one response from the connection."""
        head = await self._until(b"\r\n\r\n")
        if head is None:
            raise ConnectionError(f"no response head (got {self._pending!r})")
        lines = head.decode("latin-1").split("\r\n")
        headers = [
            (name, value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        ]
        response = RawResponse(
            status_line=lines[0], headers=headers, raw_head=head, raw_body=b"", body=b""
        )
        if response.header("content-length") is not None:
            length = int(response.header("content-length") or "0")
            data = await self._exactly(length)
            response.complete = data is not None
            response.raw_body = response.body = data if data is not None else self._pending
        else:
            await self._read_chunked(response)
        response.reads = list(self.reads)
        return response

    async def _read_chunked(self, response: RawResponse) -> None:
        raw = b""
        body = b""
        while True:
            size_line = await self._until(b"\r\n")
            if size_line is None:
                raw += self._pending
                break
            raw += size_line
            size = int(size_line.strip(), 16)
            data = await self._exactly(size + 2)
            if data is None:
                raw += self._pending
                body += self._pending
                break
            raw += data
            if size == 0:
                response.complete = True
                break
            response.chunk_sizes.append(size)
            body += data[:-2]
        response.raw_body = raw
        response.body = body


async def raw_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | dict[str, Any] | None = None,
) -> RawResponse:
    """One request on a fresh connection."""
    conn = await RawConnection.open(port)
    try:
        return await conn.request(method, path, headers, body)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Event:
    """One SSE event: its ``event:`` name (or None), ``data:`` text, or a comment."""

    event: str | None
    data: str
    comment: bool = False

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


def sse_events(body: bytes) -> list[Event]:
    """Split an event stream into events (blank-line separated), keeping comments."""
    events: list[Event] = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith(":"):
                events.append(Event(None, line[1:].strip(), comment=True))
            elif line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if name is not None or data:
            events.append(Event(name, "\n".join(data)))
    return events


def content_of(events: list[Event]) -> str:
    """The concatenated chat delta content of a chat completion stream."""
    text = ""
    for event in events:
        if event.comment or event.data == "[DONE]":
            continue
        for choice in event.json().get("choices", []):
            text += choice.get("delta", {}).get("content") or ""
    return text


async def newest_truth(
    sim: Simulator,
    ready: Callable[[RequestTruth], bool] = lambda truth: True,
    *,
    timeout: float = 30.0,
) -> RequestTruth:
    """The simulator's record of its newest request once ``ready`` holds for it (the request
    has arrived, by default): what a test waits for instead of sleeping a fixed time, which a
    loaded machine may outlast."""
    deadline = time.monotonic() + timeout
    while True:
        recent = sim.recent(1)
        if recent and ready(recent[0]):
            return recent[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no such request record within {timeout} s: {recent}")
        await asyncio.sleep(0.01)


_sdk_warm = False


async def warm_up_sdk() -> None:
    """Stream one chat completion and one response through the ``openai`` SDK, once per
    process: its first parse of each builds the models' validators on the event loop that the
    simulator shares (tens of milliseconds), which would delay the chunks a timing test
    measures."""
    global _sdk_warm
    if _sdk_warm:
        return
    config = make_config(openai={"reasoning": {"tokens": 2}, "ttft": "1ms"})
    async with Simulator(config) as sim:
        client = openai.AsyncOpenAI(
            base_url=sim.endpoint_url("openai"), api_key=OPENAI_KEY, max_retries=0
        )
        async with client:
            chat = await client.chat.completions.create(
                model="gpt-4.1-nano",
                messages=[{"role": "user", "content": "Count from 1 to 2."}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in chat:
                pass
            response = await client.responses.create(
                model="gpt-4.1-nano", input="Count from 1 to 2.", stream=True
            )
            async for _ in response:
                pass
    _sdk_warm = True
