"""The behaviours added for the reliability tests send exactly what they promise, byte for byte."""

from __future__ import annotations

import asyncio
import json

import pytest

from monitor.simulator import Behaviour, Simulator

from .helpers import (
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

CHAT = "/openai/v1/chat/completions"


async def test_invalid_utf8_puts_bytes_that_are_not_utf8_inside_one_chunks_text(
    sim: Simulator,
) -> None:
    sim.set_mode("openai", Behaviour.INVALID_UTF8)
    response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())

    assert response.status == 200 and response.complete
    assert response.body.count(b"\xff\xfe") == 1
    with pytest.raises(UnicodeDecodeError):
        response.body.decode()
    # Decoded the WHATWG way (U+FFFD for each bad byte) the stream is otherwise normal.
    text = response.body.decode("utf-8", "replace")
    assert "\ufffd\ufffd" in text and "data: [DONE]" in text


async def test_close_delimited_answers_in_http_1_0_and_ends_the_body_by_closing(
    sim: Simulator,
) -> None:
    sim.set_mode("openai", Behaviour.CLOSE_DELIMITED)
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    body = json.dumps(chat_body()).encode()
    writer.write(encode_request("POST", CHAT, openai_headers(), body))
    await writer.drain()
    received = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()

    head, _, payload = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").lower().split("\r\n")
    assert lines[0] == "http/1.0 200 ok"
    assert "connection: close" in lines
    assert not any(line.startswith(("content-length", "transfer-encoding")) for line in lines)
    assert payload.endswith(b"data: [DONE]\n\n")
    assert content_of(sse_events(payload)).startswith("1 2 3")


async def test_close_delimited_works_for_azure_and_non_streamed_answers(sim: Simulator) -> None:
    sim.set_mode("azure", Behaviour.CLOSE_DELIMITED)
    for body in (chat_body(), chat_body(stream=False)):
        conn = await RawConnection.open(sim.port)
        conn.writer.write(
            encode_request(
                "POST",
                azure_path(),
                {"api-key": "azure-sim-key-0123456789"},
                json.dumps(body).encode(),
            )
        )
        received = await asyncio.wait_for(conn.reader.read(), 5)
        await conn.close()
        assert received.startswith(b"HTTP/1.0 200 OK\r\n")
        assert b"Content-Length" not in received.partition(b"\r\n\r\n")[0]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_points_to_the_other_host_with_the_same_path(status: int) -> None:
    config = make_config(
        openai={"mode": "redirect", "redirect_status": status, "redirect_to": "http://10.9.9.9:81/"}
    )
    async with Simulator(config) as sim:
        response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
        truth = sim.recent(1)[0]

    assert response.status == status
    assert response.header("location") == f"http://10.9.9.9:81{CHAT}"
    assert response.body == b""
    assert (truth.behaviour, truth.status, truth.ending) == ("redirect", status, "complete")


@pytest.mark.parametrize("behaviour", ["endless_line", "huge_event"])
async def test_a_flood_sends_flood_bytes_then_ends(behaviour: str) -> None:
    config = make_config(openai={"mode": behaviour, "flood_bytes": 300_000})
    async with Simulator(config) as sim:
        response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
        truth = sim.recent(1)[0]

    assert response.status == 200 and response.complete
    assert response.header("content-type") == "text/event-stream; charset=utf-8"
    assert len(response.body) >= 300_000
    assert truth.ending == "complete"
    if behaviour == "endless_line":
        # One line: no LF before the tail that closes it.
        assert b"\n" not in response.body[:300_000]
    else:
        lines = response.body[:300_000].split(b"\n")
        assert all(line.startswith(b"data: ") for line in lines if line)
        assert b"\n\n" not in response.body[:300_000]  # no event is ever dispatched


async def test_a_flood_waits_for_a_slow_reader_instead_of_buffering() -> None:
    config = make_config(openai={"mode": "endless_line", "flood_bytes": 50 << 20})
    async with Simulator(config) as sim:
        conn = await RawConnection.open(sim.port)
        body = json.dumps(chat_body()).encode()
        conn.writer.write(encode_request("POST", CHAT, openai_headers(), body))
        await conn.writer.drain()
        got = len(await conn.reader.read(65536))
        await asyncio.sleep(0.5)  # a reader that stops: the simulator must stop writing
        (connection,) = sim._connections
        assert connection.transport is not None
        buffered = connection.transport.get_write_buffer_size()
        await conn.close()
        truth = await newest_truth(sim, lambda truth: truth.ending is not None)

    assert got > 0
    assert buffered < 2 << 20  # flow control: kernel buffers plus one write, not 50 MiB
    assert truth.ending == "client_closed"


async def test_truncate_style_reset_resets_the_connection_mid_stream() -> None:
    config = make_config(openai={"mode": "truncated", "truncate_style": "reset"})
    async with Simulator(config) as sim:
        conn = await RawConnection.open(sim.port)
        body = json.dumps(chat_body()).encode()
        conn.writer.write(encode_request("POST", CHAT, openai_headers(), body))
        # A reset, not an end of file: the read fails (the kernel may even drop what it
        # had received but not yet handed over, which is why nothing else is checked here).
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(_read_to_end(conn.reader), 5)
        await conn.close()
        truth = sim.recent(1)[0]

    assert (truth.status, truth.ending) == (200, "reset")
    assert truth.content_chunks > 0


async def _read_to_end(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass
