"""The alternative a user would write: a TTFT probe with the official ``openai`` SDK.

``obvious_probe`` is the code a careful reader of the SDK's README writes: time before
``create(stream=True)``, iterate the chunks, stop the TTFT clock at the first chunk whose
``choices[0].delta.content`` is non-empty. The speed uses the product's definition
(docs/design.md#output-speed) on the SDK's own arrival times, so a speed difference is a timing
difference, not a definition.

To know the *true* TTFT of an SDK probe the bench needs the moment the SDK wrote its request on
the socket. ``install_write_stamp`` patches the ``write`` of the network stream of the SDK's
HTTP library (``httpcore2``, which ``openai`` uses; the product uses ``httpcore``, untouched) to
note a ``perf_counter_ns`` in a per-task slot. It costs one context-variable read per write and
changes nothing the SDK does.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

PROMPT = "Count from 1 to 40, separated by spaces."


@dataclass
class WriteStamp:
    """When the SDK's request was first written to its socket (perf_counter_ns)."""

    written_ns: int | None = None


CURRENT_STAMP: ContextVar[WriteStamp | None] = ContextVar("bench_sdk_write", default=None)
_installed = False


def install_write_stamp() -> None:
    """Stamp the SDK's socket writes into ``CURRENT_STAMP`` (idempotent)."""
    global _installed
    if _installed:
        return
    from httpcore2._backends import anyio as backend  # the SDK's HTTP library, not the product's

    original = backend.AnyIOStream.write

    async def write(self: Any, buffer: bytes, timeout: float | None = None) -> None:
        stamp = CURRENT_STAMP.get()
        if stamp is not None and stamp.written_ns is None and buffer:
            stamp.written_ns = time.perf_counter_ns()
        await original(self, buffer, timeout)

    backend.AnyIOStream.write = write  # type: ignore[method-assign]
    _installed = True


@dataclass
class SdkMeasurement:
    """What the obvious SDK probe measured, with the raw stamps the bench compares."""

    called_ns: int
    first_content_ns: int | None
    last_content_ns: int | None
    content_chunks: int
    output_tokens: int | None
    request_id: str | None

    @property
    def ttft_seconds(self) -> float | None:
        """Time before ``create()`` to the first chunk with content."""
        if self.first_content_ns is None:
            return None
        return (self.first_content_ns - self.called_ns) / 1e9

    @property
    def output_tokens_per_second(self) -> float | None:
        """N·(C−1)/C ÷ (last − first), on the SDK's arrival times."""
        first, last, chunks = self.first_content_ns, self.last_content_ns, self.content_chunks
        if self.output_tokens is None or chunks < 2 or first is None or last is None:
            return None
        if last <= first:
            return None
        return self.output_tokens * (chunks - 1) / chunks / ((last - first) / 1e9)


async def obvious_probe(
    client: AsyncOpenAI, model: str, prompt: str = PROMPT, *, max_tokens: int = 64
) -> SdkMeasurement:
    """One streaming request, timed the way the SDK's documentation suggests."""
    called = time.perf_counter_ns()
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_completion_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    first = last = None
    chunks = 0
    tokens = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter_ns()
            if first is None:
                first = now
            last = now
            chunks += 1
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return SdkMeasurement(
        called_ns=called,
        first_content_ns=first,
        last_content_ns=last,
        content_chunks=chunks,
        output_tokens=tokens,
        request_id=stream.response.headers.get("x-request-id"),
    )
