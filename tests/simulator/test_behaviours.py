"""Every behaviour, forced with ``set_mode``, sends what it should over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from monitor.simulator import Behaviour, Simulator

from .helpers import (
    AZURE_KEY,
    RawConnection,
    azure_path,
    chat_body,
    content_of,
    make_config,
    openai_headers,
    raw_request,
    sse_events,
)

CHAT = "/openai/v1/chat/completions"


async def stream_openai(sim: Simulator, **body: object) -> tuple[int, bytes, str]:
    response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body(**body))
    return response.status, response.body, response.header("x-request-id") or ""


async def read_into(response: httpx.Response, sink: bytearray) -> None:
    """Read a streamed body into ``sink`` until it ends (or the read fails)."""
    async for data in response.aiter_raw():
        sink += data


async def test_server_error_is_a_500_with_the_service_error_body(sim: Simulator) -> None:
    sim.set_mode("openai", Behaviour.SERVER_ERROR)
    status, body, request_id = await stream_openai(sim)
    truth = sim.truth(request_id)

    assert status == 500
    assert json.loads(body)["error"]["type"] == "server_error"
    assert truth is not None
    assert (truth.behaviour, truth.status, truth.content_chunks) == ("server_error", 500, 0)


async def test_server_error_status_can_be_503() -> None:
    async with Simulator(
        make_config(openai={"mode": "server_error", "server_error_status": 503})
    ) as sim:
        status, body, _ = await stream_openai(sim)

    assert status == 503
    assert "overloaded" in json.loads(body)["error"]["message"]


async def test_rate_limited_is_a_429_with_retry_after(sim: Simulator) -> None:
    sim.set_mode("openai", "rate_limited")
    sim.set_mode("azure", "rate_limited")
    openai = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
    azure = await raw_request(sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body())

    assert openai.status == azure.status == 429
    assert openai.header("retry-after") == azure.header("retry-after") == "2"
    assert openai.header("x-ratelimit-remaining-requests") == "0"
    assert azure.header("retry-after-ms") == "2000"
    assert json.loads(openai.body)["error"]["code"] == "rate_limit_exceeded"
    assert json.loads(azure.body)["error"]["code"] == "429"


async def test_bad_request_is_a_400_unsupported_parameter(sim: Simulator) -> None:
    sim.set_mode("openai", "bad_request")
    status, body, _ = await stream_openai(sim)

    assert status == 400
    assert json.loads(body)["error"]["code"] == "unsupported_parameter"


async def test_hang_before_headers_sends_nothing(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.set_mode("openai", "hang_before_headers")

    with pytest.raises(httpx.ReadTimeout):
        await client.post(
            sim.endpoint_url("openai") + "/chat/completions",
            headers=openai_headers(),
            json=chat_body(),
            timeout=0.3,
        )
    truth = sim.recent(1, "openai")[0]
    assert truth.behaviour == "hang_before_headers"
    assert truth.headers_sent_ns is None


async def test_hang_after_headers_sends_the_head_then_nothing(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.set_mode("openai", "hang_after_headers")
    request = client.build_request(
        "POST",
        sim.endpoint_url("openai") + "/chat/completions",
        headers=openai_headers(),
        json=chat_body(),
        timeout=0.3,
    )
    response = await client.send(request, stream=True)
    try:
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            await response.aread()
    finally:
        await response.aclose()
    truth = sim.truth(response.headers["x-request-id"])
    assert truth is not None
    assert truth.headers_sent_ns is not None
    assert truth.first_content_sent_ns is None


async def test_hang_mid_stream_stops_after_some_content(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.set_mode("openai", "hang_mid_stream")
    received = bytearray()
    async with client.stream(
        "POST",
        sim.endpoint_url("openai") + "/chat/completions",
        headers=openai_headers(),
        json=chat_body(),
        timeout=0.3,
    ) as response:
        with pytest.raises(httpx.ReadTimeout):
            await read_into(response, received)
    truth = sim.truth(response.headers["x-request-id"])

    assert truth is not None
    assert content_of(sse_events(bytes(received))) == truth.text == "1 2 3 4 5 6 "
    assert truth.content_chunks == 12
    assert truth.done_sent_ns is None
    assert truth.ending == "hang"


async def test_mid_stream_error_sends_an_error_event_inside_the_200(sim: Simulator) -> None:
    sim.set_mode("openai", "mid_stream_error")
    response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
    events = sse_events(response.body)

    assert response.status == 200
    assert response.complete
    assert events[-1].json() == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert all(event.data != "[DONE]" for event in events)
    assert content_of(events[:-1]) == "1 2 3 4 5 6 "


async def test_responses_mid_stream_error_is_an_error_event(sim: Simulator) -> None:
    sim.set_mode("openai", "mid_stream_error")
    response = await raw_request(
        sim.port,
        "POST",
        "/openai/v1/responses",
        openai_headers(),
        {"model": "gpt-4.1-nano", "input": "x", "stream": True},
    )
    last = sse_events(response.body)[-1]

    assert last.event == "error"
    assert last.json()["code"] == "server_error"


async def test_truncated_stream_ends_without_the_chunked_terminator(sim: Simulator) -> None:
    sim.set_mode("openai", "truncated")
    response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
    events = sse_events(response.body)
    truth = sim.truth(response.header("x-request-id") or "")

    assert response.status == 200
    assert not response.complete
    assert not response.raw_body.endswith(b"0\r\n\r\n")
    assert all(event.data != "[DONE]" for event in events)
    assert all(c["choices"][0]["finish_reason"] is None for c in (e.json() for e in events))
    assert truth is not None
    assert truth.ending == "aborted"


async def test_truncated_stream_makes_httpx_report_an_incomplete_body(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.set_mode("openai", "truncated")

    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        await client.post(
            sim.endpoint_url("openai") + "/chat/completions",
            headers=openai_headers(),
            json=chat_body(),
        )


async def test_clean_truncation_ends_the_body_without_done_or_finish_reason() -> None:
    config = make_config(openai={"mode": "truncated", "truncate_style": "clean"})
    async with Simulator(config) as sim:
        response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
    events = sse_events(response.body)

    assert response.complete
    assert all(event.data != "[DONE]" for event in events)
    assert all(c["choices"][0]["finish_reason"] is None for c in (e.json() for e in events))


async def test_reset_closes_the_connection_with_an_rst(sim: Simulator) -> None:
    sim.set_mode("openai", "reset")
    conn = await RawConnection.open(sim.port)
    try:
        with pytest.raises(ConnectionResetError):
            await conn.request("POST", CHAT, openai_headers(), chat_body())
    finally:
        await conn.close()
    truth = sim.recent(1, "openai")[0]
    assert (truth.behaviour, truth.ending, truth.headers_sent_ns) == ("reset", "reset", None)


async def test_not_sse_answers_200_with_html() -> None:
    async with Simulator(make_config(openai={"mode": "not_sse"})) as sim:
        response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())

    assert response.status == 200
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.body.startswith(b"<!DOCTYPE html>")


async def test_not_sse_can_answer_json() -> None:
    async with Simulator(make_config(openai={"mode": "not_sse", "not_sse_body": "json"})) as sim:
        response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())

    assert response.header("content-type") == "application/json"


async def test_malformed_json_sends_an_event_that_does_not_parse(sim: Simulator) -> None:
    sim.set_mode("openai", "malformed_json")
    _, body, _ = await stream_openai(sim)
    events = sse_events(body)

    assert events[-1].data == "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        events[-2].json()
    assert content_of(events[:-2]) == "1 2 3 4 5 6 "


async def test_empty_stream_finishes_without_content(sim: Simulator) -> None:
    sim.set_mode("openai", "empty")
    _, body, request_id = await stream_openai(sim)
    events = sse_events(body)
    truth = sim.truth(request_id)

    assert content_of(events) == ""
    assert events[-1].data == "[DONE]"
    assert events[-2].json()["usage"]["completion_tokens"] == 0
    assert truth is not None
    assert truth.first_content_sent_ns is None
    assert truth.ttft_seconds is None


async def test_content_filter_finishes_with_content_filter_on_azure(sim: Simulator) -> None:
    sim.set_mode("azure", "content_filter")
    response = await raw_request(
        sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body()
    )
    chunks = [event.json() for event in sse_events(response.body)[:-1]]
    finish = chunks[-2]["choices"][0]

    assert finish["finish_reason"] == "content_filter"
    assert finish["content_filter_results"]["violence"]["filtered"] is True
    assert content_of(sse_events(response.body)) == "1 2 3 4 5 6"


async def test_keepalive_comments_come_before_and_between_content() -> None:
    config = make_config(
        openai={
            "mode": "keepalive_comments",
            "ttft": "100ms",
            "ping_interval": "20ms",
            "tokens_per_second": 200,
        }
    )
    async with Simulator(config) as sim:
        _, body, _ = await stream_openai(sim)
    events = sse_events(body)
    first_content = next(i for i, e in enumerate(events) if not e.comment and content_of([e]))

    assert sum(event.comment for event in events[:first_content]) >= 1
    assert sum(event.comment for event in events[first_content:]) == 22
    assert all(event.data == "ping" for event in events if event.comment)
    assert content_of(events) == "1 2 3 4 5 6 7 8 9 10 11 12"


async def test_drip_sends_the_body_one_byte_at_a_time() -> None:
    config = make_config(openai={"mode": "drip", "drip_interval": "1ms", "output_tokens": 3})
    async with Simulator(config) as sim:
        started = time.perf_counter()
        response = await raw_request(
            sim.port, "POST", CHAT, openai_headers(), chat_body(stream_options=None)
        )
        elapsed = time.perf_counter() - started

    assert response.complete
    assert set(response.chunk_sizes) == {1}
    assert len(response.chunk_sizes) == len(response.body)
    assert elapsed >= len(response.body) * 0.001
    assert content_of(sse_events(response.body)) == "1 2"


async def test_burst_delivers_chunks_in_groups() -> None:
    config = make_config(
        azure={"burst": {"chunks": 4}, "ttft": "20ms", "tokens_per_second": 100, "output_tokens": 8}
    )
    async with Simulator(config) as sim:
        conn = await RawConnection.open(sim.port)
        try:
            response = await conn.request("POST", azure_path(), {"api-key": AZURE_KEY}, chat_body())
        finally:
            await conn.close()
    content_reads = [
        data for _, data in response.reads if b'"content":"' in data.replace(b'"content":""', b"")
    ]
    truth = sim.truth(response.header("apim-request-id") or "")

    assert truth is not None
    # Two bursts of four chunks, 40 ms apart (4 tokens at 100 tok/s).
    assert len(content_reads) == 2
    assert (truth.last_content_sent_ns or 0) - (truth.first_content_sent_ns or 0) >= 35_000_000


async def test_faults_with_a_seed_repeat_the_same_sequence() -> None:
    config = make_config(openai={"faults": {"server_error": 0.5}}, seed=3)

    async def statuses() -> list[int]:
        async with Simulator(config) as sim:
            return [(await stream_openai(sim))[0] for _ in range(12)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert set(first) == {200, 500}


async def test_scheduled_outage_takes_the_endpoint_down_then_back() -> None:
    config = make_config(
        openai={"outages": [{"every": "1h", "duration": "300ms", "kind": "server_error"}]}
    )
    async with Simulator(config) as sim:
        during = (await stream_openai(sim))[0]
        await asyncio.sleep(0.35)
        after = (await stream_openai(sim))[0]

    assert (during, after) == (500, 200)


async def test_non_streaming_truncation_cuts_the_json_body(sim: Simulator) -> None:
    sim.set_mode("openai", "truncated")
    response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body(stream=False))

    assert response.status == 200
    assert not response.complete
    assert len(response.body) < int(response.header("content-length") or "0")
