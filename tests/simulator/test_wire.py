"""Byte-exact frames and bodies, checked against the shapes of captured real traffic."""

from __future__ import annotations

import json
from typing import Any

from monitor.simulator.error_bodies import rate_limited_body, server_error_body
from monitor.simulator.wire import (
    ChatChunks,
    azure_error_body,
    chat_completion_body,
    openai_error_body,
    stream_error_event,
)
from monitor.simulator.wire_responses import ResponseEvents


def chunks(*, azure: bool, include_usage: bool = True, obfuscated: bool = True) -> ChatChunks:
    return ChatChunks(
        azure=azure,
        completion_id="chatcmpl-X",
        created=1750000000,
        model="gpt-4.1-nano-2025-04-14",
        system_fingerprint="fp_1",
        include_usage=include_usage,
        obfuscation=(lambda: "pad") if obfuscated else None,
    )


def keys(frame: bytes) -> list[str]:
    """Top-level keys of an SSE data frame, in wire order."""
    assert frame.startswith(b"data: ")
    assert frame.endswith(b"\n\n")
    pairs: list[tuple[str, Any]] = json.loads(frame[6:], object_pairs_hook=list)
    return [key for key, _ in pairs]


def test_openai_content_chunk_is_byte_exact() -> None:
    assert chunks(azure=False).content(" 2") == (
        b'data: {"id":"chatcmpl-X","object":"chat.completion.chunk","created":1750000000,'
        b'"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_1",'
        b'"choices":[{"index":0,"delta":{"content":" 2"},"logprobs":null,"finish_reason":null}],'
        b'"usage":null,"obfuscation":"pad"}\n\n'
    )


def test_openai_role_chunk_has_empty_content_and_null_refusal() -> None:
    frame = chunks(azure=False).role()

    assert b'"delta":{"role":"assistant","content":"","refusal":null}' in frame


def test_openai_chunks_have_no_usage_key_unless_requested() -> None:
    frame = chunks(azure=False, include_usage=False, obfuscated=False).content("1")

    assert keys(frame) == [
        "id",
        "object",
        "created",
        "model",
        "service_tier",
        "system_fingerprint",
        "choices",
    ]


def test_openai_usage_chunk_has_empty_choices_and_detailed_usage() -> None:
    frame = chunks(azure=False).usage(17, 40)
    data = json.loads(frame[6:])

    assert keys(frame)[-3:] == ["choices", "usage", "obfuscation"]
    assert data["choices"] == []
    assert list(data["usage"]) == [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ]
    assert data["usage"]["total_tokens"] == 57


def test_openai_finish_chunk_has_empty_delta() -> None:
    data = json.loads(chunks(azure=False).finish("length")[6:])

    assert data["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    ]


def test_azure_prompt_filter_chunk_is_byte_exact() -> None:
    assert chunks(azure=True).prompt_filter() == (
        b'data: {"choices":[],"created":0,"id":"","model":"","object":"",'
        b'"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{'
        b'"hate":{"filtered":false,"severity":"safe"},'
        b'"jailbreak":{"filtered":false,"detected":false},'
        b'"self_harm":{"filtered":false,"severity":"safe"},'
        b'"sexual":{"filtered":false,"severity":"safe"},'
        b'"violence":{"filtered":false,"severity":"safe"}}}]}\n\n'
    )


def test_azure_content_chunk_is_byte_exact_with_sorted_keys() -> None:
    frame = chunks(azure=True, obfuscated=False).content("1")

    assert frame == (
        b'data: {"choices":[{"content_filter_results":{'
        b'"hate":{"filtered":false,"severity":"safe"},'
        b'"self_harm":{"filtered":false,"severity":"safe"},'
        b'"sexual":{"filtered":false,"severity":"safe"},'
        b'"violence":{"filtered":false,"severity":"safe"}},'
        b'"delta":{"content":"1"},"finish_reason":null,"index":0,"logprobs":null}],'
        b'"created":1750000000,"id":"chatcmpl-X","model":"gpt-4.1-nano-2025-04-14",'
        b'"object":"chat.completion.chunk","system_fingerprint":"fp_1","usage":null}\n\n'
    )


def test_azure_chunks_keep_keys_sorted_even_with_obfuscation_and_usage() -> None:
    azure = chunks(azure=True)

    for frame in (azure.role(), azure.content("x"), azure.finish("stop"), azure.usage(3, 4)):
        assert keys(frame) == sorted(keys(frame))
    assert b'"delta":{"content":"","refusal":null,"role":"assistant"}' in azure.role()


def test_azure_content_filter_finish_marks_the_filtered_category() -> None:
    data = json.loads(chunks(azure=True).finish("content_filter")[6:])
    choice = data["choices"][0]

    assert choice["finish_reason"] == "content_filter"
    assert choice["content_filter_results"]["violence"] == {
        "filtered": True,
        "severity": "medium",
    }


def test_stream_error_event_is_an_error_object() -> None:
    assert stream_error_event("boom") == (
        b'data: {"error":{"message":"boom","type":"server_error","param":null,"code":null}}\n\n'
    )


def test_openai_error_body_is_two_space_pretty_json_with_newline() -> None:
    body = openai_error_body(
        "-1 is less than the minimum of 1 - 'dimensions'", "invalid_request_error"
    )

    # A captured 400 with exactly this message was 160 bytes long.
    assert len(body) == 160
    assert body.startswith(b'{\n  "error": {\n    "message": ')
    assert body.endswith(b'"code": null\n  }\n}\n')


def test_openai_401_body_carries_status_and_code_before_param() -> None:
    body = openai_error_body("bad key", "invalid_request_error", code="invalid_api_key", status=401)

    assert json.loads(body, object_pairs_hook=list) == [
        (
            "error",
            [
                ("message", "bad key"),
                ("type", "invalid_request_error"),
                ("code", "invalid_api_key"),
                ("param", None),
            ],
        ),
        ("status", 401),
    ]


def test_azure_401_body_is_the_224_byte_apim_error() -> None:
    message = (
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API endpoint "
        "for your resource."
    )
    body = azure_error_body("401", message)

    assert len(body) == 224
    assert body.startswith(b'{"error":{"code":"401","message":"Access denied')


def test_azure_resource_not_found_keeps_the_space_after_message() -> None:
    body = azure_error_body("404", "Resource not found", space_after_message=True)

    assert body == b'{"error":{"code":"404","message": "Resource not found"}}'


def test_rate_limit_bodies_name_the_wait() -> None:
    openai = json.loads(rate_limited_body(azure=False, model="m", wait=2.5))["error"]
    azure = json.loads(rate_limited_body(azure=True, model="m", wait=2.5))["error"]

    assert (openai["type"], openai["code"]) == ("requests", "rate_limit_exceeded")
    assert "Please try again in 2.5s" in openai["message"]
    assert azure["code"] == "429"
    assert "Please retry after 2 seconds" in azure["message"]


def test_azure_500_names_the_request_id() -> None:
    error = json.loads(server_error_body(azure=True, status=500, request_id="abc"))["error"]

    assert error["type"] == "server_error"
    assert "request ID abc" in error["message"]


def test_non_streamed_openai_completion_is_pretty_in_service_order() -> None:
    body = chat_completion_body(
        azure=False,
        completion_id="chatcmpl-X",
        created=1,
        model="m",
        system_fingerprint=None,
        text="1 2",
        finish_reason="stop",
        prompt_tokens=5,
        completion_tokens=2,
    )
    pairs = json.loads(body, object_pairs_hook=list)

    assert body.startswith(b'{\n  "id": "chatcmpl-X",\n  "object": "chat.completion"')
    assert [key for key, _ in pairs] == [
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "service_tier",
        "system_fingerprint",
    ]


def test_non_streamed_azure_completion_is_compact_and_sorted() -> None:
    body = chat_completion_body(
        azure=True,
        completion_id="chatcmpl-X",
        created=1,
        model="m",
        system_fingerprint="fp",
        text="1 2",
        finish_reason="stop",
        prompt_tokens=5,
        completion_tokens=2,
    )
    data = json.loads(body)

    assert b"\n" not in body
    assert list(data) == sorted(data)
    assert data["choices"][0]["message"]["content"] == "1 2"
    assert data["prompt_filter_results"][0]["prompt_index"] == 0


def response_events() -> ResponseEvents:
    return ResponseEvents(
        response_id="resp_1",
        message_id="msg_1",
        created_at=1,
        model="m",
        max_output_tokens=None,
        obfuscation=lambda: "pad",
    )


def test_responses_delta_is_byte_exact() -> None:
    events = response_events()
    events.preamble()

    assert events.delta("1") == (
        b"event: response.output_text.delta\n"
        b'data: {"type":"response.output_text.delta","content_index":0,"delta":"1",'
        b'"item_id":"msg_1","logprobs":[],"obfuscation":"pad","output_index":0,'
        b'"sequence_number":4}\n\n'
    )


def test_responses_events_put_type_first_and_number_from_zero() -> None:
    events = response_events()
    frames = [*events.preamble(), events.delta("1"), events.delta(" 2")]
    frames += events.finish("1 2", input_tokens=3, output_tokens=2, incomplete_reason=None)
    names = [frame.split(b"\n")[0][len(b"event: ") :].decode() for frame in frames]
    datas = [json.loads(frame.split(b"\ndata: ")[1], object_pairs_hook=list) for frame in frames]

    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    for number, (name, pairs) in enumerate(zip(names, datas, strict=True)):
        assert pairs[0] == ("type", name)
        rest = [key for key, _ in pairs[1:]]
        assert rest == sorted(rest)
        assert dict(pairs)["sequence_number"] == number
    completed = json.loads(frames[-1].split(b"\ndata: ")[1])["response"]
    assert completed["status"] == "completed"
    assert completed["usage"]["output_tokens"] == 2
    assert completed["output"][0]["content"][0]["text"] == "1 2"


def test_responses_capped_answer_ends_incomplete() -> None:
    events = response_events()
    last = events.finish(
        "1", input_tokens=3, output_tokens=1, incomplete_reason="max_output_tokens"
    )[-1]

    assert last.startswith(b"event: response.incomplete\n")
    data = json.loads(last.split(b"\ndata: ")[1])
    assert data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
