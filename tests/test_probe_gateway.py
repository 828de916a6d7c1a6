"""Probes of what gateways (LiteLLM and the like) send and the simulator does not: streams cut
in the middle of an event, ``[DONE]`` appended to a cut Responses stream, 429s without
``retry-after``, gateway request ids and gateway error bodies; each over loopback HTTP from a
server scripted byte for byte."""

from __future__ import annotations

import json
from typing import Any

import yaml

from monitor.config import Endpoint, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner

from .canned_http import KEY, canned_server, chunk, response, sse


def _endpoint(url: str, **extra: Any) -> Endpoint:
    raw = {
        # Canned answers ("hi"): a prompt that asks for no count, so no answer check.
        "probe": {"timeout": "5s", "interval": "10s", "jitter": 0, "prompt": "Say hi."},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {"id": "gateway", "model": "gpt-4.1-nano", "provider": "openai_compatible",
             "base_url": url, "api_key_env": "K", **extra},
        ],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": KEY}).endpoints[0]


async def _probe(reply: bytes, **extra: Any) -> ProbeResult:
    async with canned_server(reply) as server:
        runner = ProbeRunner()
        try:
            return await runner.probe(_endpoint(server.url, **extra))
        finally:
            await runner.aclose()


# --- a stream cut in the middle of an event -------------------------------------------------------


async def test_a_stream_cut_off_inside_an_event_is_a_stream_error_saying_so() -> None:
    # The body ends cleanly (last chunk sent), but inside a data line: no blank line after it,
    # its JSON incomplete. The server spoke SSE; the stream broke.
    cut = chunk("3")[:40]
    result = await _probe(sse(chunk("1"), chunk(" 2"), tail=f"data: {cut}"))
    assert result.outcome is Outcome.STREAM_ERROR, result.error
    assert result.error is not None and "cut off mid-event" in result.error
    assert result.content_chunks == 2


async def test_a_stream_cut_after_a_data_line_but_before_its_blank_line_is_a_stream_error() -> None:
    result = await _probe(sse(chunk("1"), tail=f"data: {chunk('2')[:30]}\n"))
    assert result.outcome is Outcome.STREAM_ERROR, result.error
    assert result.error is not None and "cut off mid-event" in result.error


async def test_a_whole_last_event_without_its_blank_line_still_ends_the_stream_well() -> None:
    result = await _probe(sse(chunk("1"), chunk(" 2"), chunk(finish="stop"), tail="data: [DONE]"))
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.content_chunks == 2


async def test_malformed_json_in_a_complete_event_is_still_a_protocol_error() -> None:
    result = await _probe(sse(chunk("1"), '{"id": "chatcmpl-canned", "choices": [', "[DONE]"))
    assert result.outcome is Outcome.PROTOCOL_ERROR, result.error


def _responses_event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "sequence_number": 0, **fields})


RESPONSE = {"id": "resp_1", "model": "gpt-4.1-nano-2025-04-14", "status": "in_progress"}
USAGE = {"input_tokens": 12, "output_tokens": 2, "total_tokens": 14}
RESPONSES_OPENING = (
    _responses_event("response.created", response=RESPONSE),
    _responses_event("response.output_text.delta", delta="1"),
    _responses_event("response.output_text.delta", delta=" 2"),
)
COMPLETED = _responses_event(
    "response.completed", response={**RESPONSE, "status": "completed", "usage": USAGE}
)


async def test_a_responses_stream_cut_off_inside_an_event_is_a_stream_error_saying_so() -> None:
    result = await _probe(sse(*RESPONSES_OPENING, tail=f"data: {COMPLETED[:50]}"), api="responses")
    assert result.outcome is Outcome.STREAM_ERROR, result.error
    assert result.error is not None and "cut off mid-event" in result.error
    assert "without a response.completed, response.incomplete or response.failed" in result.error


# --- [DONE] appended to a cut Responses API stream ------------------------------------------------


async def test_a_responses_stream_with_done_but_no_terminal_event_is_a_stream_error() -> None:
    # A gateway ends the stream it relays with [DONE] although the upstream never completed.
    result = await _probe(sse(*RESPONSES_OPENING, "[DONE]"), api="responses")
    assert result.outcome is Outcome.STREAM_ERROR, result.error
    assert result.error == (
        "the stream sent [DONE] without a response.completed, response.incomplete or"
        " response.failed event"
    )
    assert result.content_chunks == 2


async def test_a_responses_stream_with_its_terminal_event_and_done_is_a_success() -> None:
    result = await _probe(sse(*RESPONSES_OPENING, COMPLETED, "[DONE]"), api="responses")
    assert result.outcome is Outcome.SUCCESS, result.error
    assert (result.output_tokens, result.input_tokens) == (2, 12)


async def test_a_chat_stream_still_ends_well_with_done_after_its_content() -> None:
    result = await _probe(sse(chunk("1"), chunk(" 2"), "[DONE]"))
    assert result.outcome is Outcome.SUCCESS, result.error


# --- request ids through a gateway ----------------------------------------------------------------

LITELLM_HEADERS = {
    "x-litellm-call-id": "6d1e2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
    "x-litellm-model-id": "0f4b1b2c",
    "x-litellm-response-duration-ms": "812.5",
    "cf-ray": "8a1b2c3d4e5f6a7b-AMS",
}


async def test_a_gateway_call_id_is_the_request_id_when_no_provider_id_is_sent() -> None:
    reply = sse(chunk("1"), chunk(" 2"), chunk(finish="stop"), "[DONE]", headers=LITELLM_HEADERS)
    result = await _probe(reply)
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.provider_request_id == "6d1e2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


async def test_a_gateway_error_carries_the_gateway_call_id() -> None:
    body = {"error": {"message": "litellm.BadRequestError: bad model", "type": None,
                      "param": None, "code": "400"}}  # fmt: skip
    result = await _probe(response(400, body, LITELLM_HEADERS))
    assert result.outcome is Outcome.BAD_REQUEST
    assert result.provider_request_id == "6d1e2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


async def test_a_hop_id_alone_is_no_request_id() -> None:
    result = await _probe(sse(chunk("1"), "[DONE]", headers={"cf-ray": "8a1b2c3d4e5f6a7b-AMS"}))
    assert result.provider_request_id is None


# --- gateway error texts --------------------------------------------------------------------------


async def test_a_gateway_error_names_its_status_once_and_keeps_the_upstream_reason() -> None:
    body = {"error": {"message": "litellm.InternalServerError: InternalServerError: "
                      "OpenAIException - Connection error.", "type": None, "param": None,
                      "code": "500"}}  # fmt: skip
    result = await _probe(response(500, body, LITELLM_HEADERS))
    assert result.outcome is Outcome.SERVER_ERROR
    assert (
        result.error == "HTTP 500: litellm.InternalServerError: OpenAIException - Connection error."
    )


# --- 429s without retry-after -----------------------------------------------------------------


async def test_a_429_without_retry_after_keeps_the_wait_its_message_names() -> None:
    body = {"error": {"message": "litellm.RateLimitError: RateLimitError: OpenAIException - Rate"
                      " limit reached for gpt-4.1-nano in organization org-x on requests per min"
                      " (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit"
                      " https://platform.openai.com/account/rate-limits to learn more.",
                      "type": None, "param": None, "code": "429"}}  # fmt: skip
    result = await _probe(response(429, body, LITELLM_HEADERS))
    assert result.outcome is Outcome.RATE_LIMITED
    assert result.retry_after_seconds == 20.0
    assert result.error is not None and result.error.startswith(
        "HTTP 429: litellm.RateLimitError: OpenAIException - Rate limit reached"
    )


async def test_a_429_without_any_wait_has_no_retry_after() -> None:
    body = {"error": {"message": "Rate limit exceeded", "code": "429"}}
    result = await _probe(response(429, body))
    assert result.outcome is Outcome.RATE_LIMITED
    assert result.retry_after_seconds is None
