"""Normal answers over real loopback HTTP: status lines, headers, framing, event sequences."""

from __future__ import annotations

import asyncio
import json
import re

import httpx

from monitor.simulator import Simulator

from .helpers import (
    AZURE_KEY,
    DEPLOYMENT,
    MODEL,
    RawConnection,
    azure_path,
    chat_body,
    content_of,
    encode_request,
    make_config,
    newest_truth,
    openai_headers,
    raw_request,
    sse_events,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def test_openai_stream_head_is_a_chunked_event_stream(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
    )

    assert response.status_line == "HTTP/1.1 200 OK"
    assert [name for name, _ in response.headers[:4]] == [
        "Date",
        "Content-Type",
        "Transfer-Encoding",
        "Connection",
    ]
    assert response.header("content-type") == "text/event-stream; charset=utf-8"
    assert response.header("transfer-encoding") == "chunked"
    assert response.header("content-length") is None
    assert re.match(r"^req_[0-9a-f]{32}$", response.header("x-request-id") or "")
    assert response.header("openai-version") == "2020-10-01"
    assert response.raw_body.endswith(b"0\r\n\r\n")
    assert response.complete


async def test_openai_stream_sends_role_content_finish_usage_then_done(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
    )
    events = sse_events(response.body)
    chunks = [event.json() for event in events[:-1]]
    truth = sim.truth(response.header("x-request-id") or "")

    assert events[-1].data == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 23
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert all(chunk["model"] == MODEL and "obfuscation" in chunk for chunk in chunks)
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert content_of(events) == "1 2 3 4 5 6 7 8 9 10 11 12"
    assert truth is not None
    assert truth.text == content_of(events)
    assert truth.content_chunks == 23
    assert truth.usage_completion_tokens == truth.output_tokens == 23


async def test_openai_stream_without_include_usage_sends_no_usage(sim: Simulator) -> None:
    body = chat_body()
    del body["stream_options"]
    response = await raw_request(
        sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), body
    )
    chunks = [event.json() for event in sse_events(response.body)[:-1]]

    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_azure_stream_opens_with_prompt_filter_results(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body()
    )
    events = sse_events(response.body)
    chunks = [event.json() for event in events[:-1]]

    assert chunks[0]["choices"] == []
    assert chunks[0]["id"] == ""
    assert chunks[0]["prompt_filter_results"][0]["prompt_index"] == 0
    assert chunks[1]["choices"][0]["delta"] == {"content": "", "refusal": None, "role": "assistant"}
    content = [
        chunk
        for chunk in chunks
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content")
    ]
    assert len(content) == 23
    assert all(chunk["choices"][0]["content_filter_results"]["hate"] for chunk in content)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 23
    for event in events[:-1]:
        wire_keys = [key for key, _ in json.loads(event.data, object_pairs_hook=list)]
        assert wire_keys == sorted(wire_keys)
    assert events[-1].data == "[DONE]"


async def test_azure_stream_headers_carry_apim_and_request_ids(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body()
    )
    apim = response.header("apim-request-id") or ""
    request_id = response.header("x-request-id") or ""

    assert response.header("content-type") == "text/event-stream; charset=utf-8"
    assert UUID.match(apim)
    assert UUID.match(request_id)
    assert apim != request_id
    assert response.header("x-ms-region") == "East US"
    assert response.header("x-ms-deployment-name") == DEPLOYMENT
    by_apim, by_request = sim.truth(apim), sim.truth(request_id)
    assert by_apim is not None
    assert by_apim == by_request
    assert by_apim.flavor == "azure"


async def test_responses_stream_ends_with_completed_and_no_done(sim: Simulator) -> None:
    response = await raw_request(
        sim.port,
        "POST",
        "/openai/v1/responses",
        openai_headers(),
        {"model": "gpt-4.1-nano", "input": "Count from 1 to 40.", "stream": True},
    )
    events = sse_events(response.body)
    truth = sim.truth(response.header("x-request-id") or "")

    assert [event.event for event in events[:4]] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert events[-1].event == "response.completed"
    assert all(event.data != "[DONE]" for event in events)
    assert [event.json()["sequence_number"] for event in events] == list(range(len(events)))
    deltas = "".join(e.json()["delta"] for e in events if e.event == "response.output_text.delta")
    completed = events[-1].json()["response"]
    assert truth is not None
    assert deltas == truth.text == completed["output"][0]["content"][0]["text"]
    assert completed["usage"]["output_tokens"] == truth.output_tokens == 23


async def test_azure_responses_on_the_v1_path(sim: Simulator) -> None:
    response = await raw_request(
        sim.port,
        "POST",
        "/azure/openai/v1/responses",
        {"api-key": AZURE_KEY},
        {"model": DEPLOYMENT, "input": "hi", "stream": True},
    )

    assert response.status == 200
    assert sse_events(response.body)[-1].event == "response.completed"


async def test_keep_alive_serves_requests_one_after_another(sim: Simulator) -> None:
    conn = await RawConnection.open(sim.port)
    try:
        first = await conn.request(
            "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )
        second = await conn.request(
            "POST", "/openai/v1/chat/completions", openai_headers(), chat_body(stream=False)
        )
    finally:
        await conn.close()

    assert first.complete
    assert second.complete
    assert first.header("x-request-id") != second.header("x-request-id")
    assert json.loads(second.body)["choices"][0]["message"]["content"].startswith("1 2 3")


async def test_non_streaming_request_gets_a_json_completion(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        sim.endpoint_url("openai") + "/chat/completions",
        headers=openai_headers(),
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    )
    body = response.json()
    truth = sim.truth(response.headers["x-request-id"])

    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert body["object"] == "chat.completion"
    assert body["usage"]["completion_tokens"] == 23
    assert truth is not None
    assert not truth.stream
    assert truth.text == body["choices"][0]["message"]["content"]


async def test_max_tokens_caps_the_stream_with_finish_reason_length(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        sim.endpoint_url("openai") + "/chat/completions",
        headers=openai_headers(),
        json=chat_body(max_completion_tokens=9),
    )
    chunks = [event.json() for event in sse_events(response.content)[:-1]]

    assert content_of(sse_events(response.content)) == "1 2 3 4 5"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 9


async def test_max_output_tokens_caps_a_response_as_incomplete(client: httpx.AsyncClient) -> None:
    async with Simulator(make_config(openai={"output_tokens": 40})) as sim:
        response = await client.post(
            sim.endpoint_url("openai") + "/responses",
            headers=openai_headers(),
            json={"model": MODEL, "input": "hi", "stream": True, "max_output_tokens": 16},
        )
    last = sse_events(response.content)[-1]

    assert last.event == "response.incomplete"
    assert last.json()["response"]["usage"]["output_tokens"] == 16
    assert last.json()["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_multi_token_chunks_report_every_token() -> None:
    async with Simulator(make_config(openai={"tokens_per_chunk": 3, "output_tokens": 19})) as sim:
        response = await raw_request(
            sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )
    truth = sim.truth(response.header("x-request-id") or "")

    assert truth is not None
    assert (truth.content_chunks, truth.output_tokens) == (7, 19)
    assert content_of(sse_events(response.body)) == "1 2 3 4 5 6 7 8 9 10"


async def test_azure_filter_annotations_can_be_turned_off() -> None:
    async with Simulator(make_config(azure={"filter_results": False})) as sim:
        response = await raw_request(
            sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body()
        )
    chunks = [event.json() for event in sse_events(response.body)[:-1]]

    assert "prompt_filter_results" not in chunks[0]
    assert all("content_filter_results" not in c for ch in chunks for c in ch["choices"])


async def test_expect_100_continue_is_answered_before_the_body(sim: Simulator) -> None:
    body = json.dumps(chat_body(stream=False)).encode()
    head = (
        "POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {openai_headers()['Authorization'][7:]}\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        writer.write(head)
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=2)
        writer.write(body)
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=2)
    finally:
        writer.close()
        await writer.wait_closed()

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_client_leaving_mid_stream_stops_the_stream_and_is_recorded() -> None:
    config = make_config(openai={"ttft": "10ms", "tokens_per_second": 100, "output_tokens": 50})
    async with Simulator(config) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        writer.write(
            encode_request(
                "POST",
                "/openai/v1/chat/completions",
                openai_headers(),
                json.dumps(chat_body()).encode(),
            )
        )
        await reader.readuntil(b'"content":"3"')
        writer.close()
        await writer.wait_closed()
        truth = await newest_truth(sim, lambda truth: truth.ending is not None)
        after = await raw_request(
            sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )

    assert truth.ending == "client_closed"
    assert truth.closed_ns is not None
    assert 5 <= truth.content_chunks < 50  # "1", " ", "2", " ", "3"
    assert after.status == 200
