"""Timing ground truth: when the simulator says it sent a chunk is when the client gets it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from monitor.simulator import Simulator

from .helpers import (
    RawConnection,
    chat_body,
    encode_request,
    make_config,
    openai_headers,
)

MS = 1_000_000
#: Scheduling slack allowed on a loaded 2-core machine (client and server share one event loop).
SLACK = 15 * MS


@pytest.fixture
async def slow_sim() -> AsyncIterator[Simulator]:
    """TTFT 200 ms, 50 tokens/s, 10 tokens; headers and role chunk at half the TTFT."""
    config = make_config(openai={"ttft": "200ms", "tokens_per_second": 50, "output_tokens": 10})
    async with Simulator(config) as sim:
        yield sim


def first_content_arrival(reads: list[tuple[int, bytes]]) -> int:
    """Arrival time of the first read that carries a chunk with non-empty content."""
    for stamp, data in reads:
        if b'"delta":{"content":"' in data and b'"delta":{"content":""' not in data:
            return stamp
    raise AssertionError("no content chunk arrived")


async def test_first_content_arrives_when_the_truth_says_it_was_sent(slow_sim: Simulator) -> None:
    conn = await RawConnection.open(slow_sim.port)
    try:
        started = time.perf_counter_ns()
        response = await conn.request(
            "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )
    finally:
        await conn.close()
    truth = slow_sim.truth(response.header("x-request-id") or "")
    arrived = first_content_arrival(response.reads)

    assert truth is not None
    assert truth.first_content_sent_ns is not None
    assert truth.ttft_seconds is not None
    assert 0 <= arrived - truth.first_content_sent_ns < SLACK
    assert 0 <= truth.received_ns - started < SLACK
    assert 0.2 <= truth.ttft_seconds < 0.2 + SLACK / 1e9
    assert abs((arrived - started) - truth.ttft_seconds * 1e9) < 2 * SLACK


async def test_truth_speed_matches_the_configured_rate(slow_sim: Simulator) -> None:
    response_id = await _one_stream(slow_sim)
    truth = slow_sim.truth(response_id)

    assert truth is not None
    assert truth.content_chunks == 10
    # 9 tokens after the first chunk over 9 token periods of 20 ms.
    assert truth.output_tokens_per_second == pytest.approx(50.0, rel=0.1)


async def test_headers_and_role_chunk_come_before_the_first_content(slow_sim: Simulator) -> None:
    conn = await RawConnection.open(slow_sim.port)
    try:
        response = await conn.request(
            "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )
    finally:
        await conn.close()
    truth = slow_sim.truth(response.header("x-request-id") or "")
    head_arrival, head_data = response.reads[0]

    assert truth is not None
    assert truth.headers_sent_ns is not None
    assert 0.1 <= (truth.headers_sent_ns - truth.received_ns) / 1e9 < 0.1 + SLACK / 1e9
    assert b"HTTP/1.1 200 OK" in head_data
    assert b'"role":"assistant"' in head_data
    assert b'"delta":{"content":"1"}' not in head_data
    assert first_content_arrival(response.reads) - head_arrival > 80 * MS


async def test_received_is_stamped_at_the_first_byte_not_the_last(slow_sim: Simulator) -> None:
    request = encode_request(
        "POST",
        "/openai/v1/chat/completions",
        openai_headers(),
        json.dumps(chat_body()).encode(),
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", slow_sim.port)
    try:
        first_byte = time.perf_counter_ns()
        writer.write(request[:20])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(request[20:])
        await writer.drain()
        head = await reader.readuntil(b'"delta":{"content":"1"}')
    finally:
        writer.close()
        await writer.wait_closed()
    request_id = next(
        line.split(b": ")[1].decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-request-id")
    )
    truth = slow_sim.truth(request_id)

    assert truth is not None
    assert truth.ttft_seconds is not None
    assert 0 <= truth.received_ns - first_byte < SLACK
    assert 0.2 <= truth.ttft_seconds < 0.2 + SLACK / 1e9


async def _one_stream(sim: Simulator) -> str:
    conn = await RawConnection.open(sim.port)
    try:
        response = await conn.request(
            "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )
    finally:
        await conn.close()
    return response.header("x-request-id") or ""
