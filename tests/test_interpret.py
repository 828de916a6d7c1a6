"""What counts as content, usage and the end of a stream, on real-shaped events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.core.outcomes import Outcome
from monitor.probing.interpret import ChatCompletionsInterpreter, ResponsesInterpreter, StreamState
from monitor.probing.sse import SSEEvent

MS = 1_000_000


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish}
    if delta is not None:
        choice["delta"] = delta
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4.1-nano-2025-04-14",
        "service_tier": "default",
        "system_fingerprint": "fp_1",
        "choices": [choice],
        "usage": None,
        **extra,
    }
    return json.dumps(body)


ROLE = _chunk({"role": "assistant", "content": "", "refusal": None})
USAGE = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": 21,
            "completion_tokens": 3,
            "total_tokens": 24,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
)
AZURE_FILTER = json.dumps(
    {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [
            {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False}}}
        ],
    }
)


def _feed_chat(events: list[tuple[int, str]]) -> StreamState:
    interpreter = ChatCompletionsInterpreter()
    for at_ms, data in events:
        interpreter.feed(SSEEvent(data=data), at_ms * MS)
        if interpreter.state.finished:
            break
    return interpreter.state


def test_ttft_ignores_role_only_and_azure_prompt_filter_chunks() -> None:
    state = _feed_chat(
        [
            (100, AZURE_FILTER),
            (150, ROLE),
            (300, _chunk({"content": "1"})),
            (310, _chunk({"content": " 2"})),
            (330, _chunk({"content": " 3"})),
            (331, _chunk({}, "stop")),
            (332, USAGE),
            (333, "[DONE]"),
        ]
    )
    assert state.first_content_ns == 300 * MS
    assert state.last_content_ns == 330 * MS
    assert state.content_chunks == 3
    assert state.output_tokens == 3 and state.input_tokens == 21
    assert state.text == "1 2 3"
    assert state.end_outcome() == (Outcome.SUCCESS, None)
    assert state.last_event_ns == 333 * MS


def test_content_chunks_of_the_first_read_are_counted_together() -> None:
    # The role chunk and three content chunks in one read (one stamp), then two more reads.
    state = _feed_chat(
        [
            (300, ROLE),
            (300, _chunk({"content": "1"})),
            (300, _chunk({"content": " 2"})),
            (300, _chunk({"content": " 3"})),
            (320, _chunk({"content": " 4"})),
            (340, _chunk({"content": " 5"})),
        ]
    )
    assert state.first_content_ns == 300 * MS and state.content_chunks == 5
    assert state.first_read_chunks == 3
    # A later read with the first one's stamp value does not join it once another came between.
    alone = _feed_chat(
        [(300, _chunk({"content": "1"})), (310, _chunk({"content": " 2"})),
         (310, _chunk({"content": " 3"}))]
    )  # fmt: skip
    assert alone.first_read_chunks == 1


def test_finish_reason_is_kept_when_a_later_chunk_says_null() -> None:
    state = _feed_chat([(1, _chunk({"content": "hi"})), (2, _chunk({}, "stop")), (3, _chunk({}))])
    assert state.finish_reason == "stop"


@pytest.mark.parametrize(
    "delta",
    [
        {"reasoning_content": "thinking"},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]},
        {"content": "x"},
        {"refusal": "I can't help with that."},
    ],
    ids=["reasoning", "tool-call", "text", "refusal"],
)
def test_content_includes_reasoning_tool_calls_and_refusals(delta: dict[str, Any]) -> None:
    # The opening chunk's ``refusal: null`` (in ROLE) is not content; a refusal's text is.
    state = _feed_chat([(5, ROLE), (7, _chunk(delta))])
    assert state.first_content_ns == 7 * MS
    if "reasoning_content" not in delta:
        assert state.first_answer_ns == 7 * MS  # answer TTFT: never before TTFT


def test_choices_without_delta_are_not_content() -> None:
    state = _feed_chat([(1, _chunk(None)), (2, _chunk({"content": None}))])
    assert state.content_chunks == 0


@pytest.mark.parametrize(
    ("events", "outcome"),
    [
        ([_chunk({"content": "a"}), _chunk({}, "stop"), "[DONE]"], Outcome.SUCCESS),
        # Some servers close after the finish chunk without [DONE]: still a complete answer.
        ([_chunk({"content": "a"}), _chunk({}, "stop")], Outcome.SUCCESS),
        ([_chunk({"content": "a"})], Outcome.STREAM_ERROR),
        ([ROLE, _chunk({}, "stop"), "[DONE]"], Outcome.EMPTY_RESPONSE),
        (
            [_chunk({"content": "a"}), _chunk({}, "content_filter"), "[DONE]"],
            Outcome.CONTENT_FILTER,
        ),
        (
            [
                _chunk({"content": "a"}),
                json.dumps(
                    {"error": {"message": "The server had an error", "type": "server_error"}}
                ),
            ],
            Outcome.STREAM_ERROR,
        ),
        (["{not json"], Outcome.PROTOCOL_ERROR),
        (["[1, 2]"], Outcome.PROTOCOL_ERROR),
    ],
    ids=[
        "done",
        "finish-without-done",
        "cut",
        "empty",
        "content-filter",
        "error-event",
        "malformed-json",
        "not-an-object",
    ],
)
def test_end_of_stream_outcomes(events: list[str], outcome: Outcome) -> None:
    state = _feed_chat([(i, data) for i, data in enumerate(events)])
    assert state.end_outcome()[0] is outcome


@pytest.mark.parametrize(
    ("events", "last", "outcome"),
    [
        ([_chunk({"content": "a"})], _chunk({"content": "b"})[:25], Outcome.STREAM_ERROR),
        ([_chunk({"content": "a"}), _chunk({}, "stop")], "[DO", Outcome.SUCCESS),
        ([_chunk({"content": "a"}), _chunk({}, "stop")], "[DONE]", Outcome.SUCCESS),
        ([_chunk({"content": "a"})], "[DONE]", Outcome.SUCCESS),
        ([_chunk({"content": "a"})], _chunk({}, "stop"), Outcome.SUCCESS),
        ([_chunk({"content": "a"})], "[1, 2]", Outcome.PROTOCOL_ERROR),
    ],
    ids=[
        "cut-mid-chunk",
        "answer-whole-then-done-cut",
        "done-without-blank-line",
        "done-without-blank-line-or-finish",
        "finish-chunk-without-blank-line",
        "whole-json-not-an-object",
    ],
)
def test_the_event_a_stream_ends_inside_is_kept_when_whole_and_dropped_when_cut(
    events: list[str], last: str, outcome: Outcome
) -> None:
    interpreter = ChatCompletionsInterpreter()
    for i, data in enumerate(events):
        interpreter.feed(SSEEvent(data=data), i * MS)
    interpreter.feed(SSEEvent(data=last), 99 * MS, unterminated=True)
    state = interpreter.state
    assert state.end_outcome()[0] is outcome
    if outcome is Outcome.STREAM_ERROR:
        assert state.end_outcome()[1] == (
            "the stream was cut off mid-event (its last event's JSON is incomplete),"
            " without [DONE] or a finish_reason"
        )
        assert state.last_event_ns == (len(events) - 1) * MS  # the remains are not an event


def test_error_event_text_names_code_and_message() -> None:
    state = _feed_chat([(1, json.dumps({"error": {"code": "server_error", "message": "boom"}}))])
    assert state.end_outcome() == (Outcome.STREAM_ERROR, "server_error: boom")


def _responses_event(kind: str, **fields: Any) -> SSEEvent:
    return SSEEvent(event=kind, data=json.dumps({"type": kind, "sequence_number": 0, **fields}))


def test_responses_api_content_usage_and_completion() -> None:
    interpreter = ResponsesInterpreter()
    response = {"id": "resp_1", "model": "gpt-4.1-nano-2025-04-14", "status": "in_progress"}
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 17,
    }
    events = [
        (10, _responses_event("response.created", response=response)),
        (11, _responses_event("response.in_progress", response=response)),
        (12, _responses_event("response.output_item.added", output_index=0, item={})),
        (20, _responses_event("response.output_text.delta", delta="")),
        (40, _responses_event("response.output_text.delta", delta="1 2")),
        (60, _responses_event("response.output_text.delta", delta=" 3")),
        (61, _responses_event("response.output_text.done", text="1 2 3")),
        (
            62,
            _responses_event(
                "response.completed", response={**response, "status": "completed", "usage": usage}
            ),
        ),
    ]
    for at_ms, event in events:
        interpreter.feed(event, at_ms * MS)
    state = interpreter.state
    assert state.finished
    assert state.first_content_ns == 40 * MS and state.last_content_ns == 60 * MS
    assert state.content_chunks == 2
    assert (state.input_tokens, state.output_tokens) == (12, 5)
    assert state.response_model == "gpt-4.1-nano-2025-04-14"
    assert state.end_outcome() == (Outcome.SUCCESS, None)


def test_responses_api_failure_and_incomplete() -> None:
    failed = ResponsesInterpreter()
    failed.feed(
        _responses_event(
            "response.failed",
            response={"status": "failed", "error": {"code": "server_error", "message": "oops"}},
        ),
        1,
    )
    assert failed.state.end_outcome() == (Outcome.STREAM_ERROR, "server_error: oops")

    filtered = ResponsesInterpreter()
    filtered.feed(_responses_event("response.output_text.delta", delta="a"), 1)
    filtered.feed(
        _responses_event(
            "response.incomplete",
            response={"status": "incomplete", "incomplete_details": {"reason": "content_filter"}},
        ),
        2,
    )
    assert filtered.state.end_outcome()[0] is Outcome.CONTENT_FILTER


@pytest.mark.parametrize(
    ("ending", "outcome", "error"),
    [
        (["[DONE]"], Outcome.STREAM_ERROR,
         "the stream sent [DONE] without a response.completed, response.incomplete or"
         " response.failed event"),
        ([], Outcome.STREAM_ERROR,
         "the stream ended without a response.completed, response.incomplete or"
         " response.failed event"),
        ([_responses_event("response.completed", response={"status": "completed"}).data,
          "[DONE]"], Outcome.SUCCESS, None),
    ],
    ids=["done-without-terminal-event", "no-end-at-all", "terminal-event-then-done"],
)  # fmt: skip
def test_responses_api_streams_end_well_only_with_a_terminal_event(
    ending: list[str], outcome: Outcome, error: str | None
) -> None:
    interpreter = ResponsesInterpreter()
    interpreter.feed(_responses_event("response.output_text.delta", delta="1 2"), 1)
    for at, data in enumerate(ending, start=2):
        interpreter.feed(SSEEvent(data=data), at)
    assert interpreter.state.end_outcome() == (outcome, error)


# --- time to first answer token (docs/design.md#answer-ttft) ----------------------------------


def _reasoning_usage(reasoning: int) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": 21,
                "completion_tokens": 40 + reasoning,
                "total_tokens": 61 + reasoning,
                "completion_tokens_details": {"reasoning_tokens": reasoning},
            },
        }
    )


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_answer_starts_after_streamed_reasoning_on_chat_completions(key: str) -> None:
    # As DeepSeek, vLLM and SGLang (``reasoning_content``) or OpenRouter (``reasoning``)
    # stream a reasoning model: reasoning deltas, then the answer's content.
    state = _feed_chat(
        [
            (50, ROLE),
            (120, _chunk({key: "The user wants"})),
            (180, _chunk({key: " a count."})),
            (900, _chunk({"content": "1"})),
            (950, _chunk({"content": " 2"})),
            (951, _chunk({}, "stop")),
            (952, _reasoning_usage(350)),
            (953, "[DONE]"),
        ]
    )
    assert state.first_content_ns == 120 * MS  # TTFT: the first token of any kind
    assert state.first_answer_ns == 900 * MS  # answer TTFT: the first visible one
    assert state.reasoning_chunks == 2 and state.reasoning_tokens == 350
    assert state.text == "1 2"
    assert state.end_outcome() == (Outcome.SUCCESS, None)


def test_a_tool_call_is_the_answer() -> None:
    function = {"name": "f", "arguments": ""}
    call = {"tool_calls": [{"index": 0, "id": "call_1", "function": function}]}
    state = _feed_chat(
        [(10, _chunk({"reasoning_content": "hmm"})), (70, _chunk(call)), (80, _chunk({}, "stop"))]
    )
    assert (state.first_content_ns, state.first_answer_ns) == (10 * MS, 70 * MS)
    assert state.end_outcome() == (Outcome.SUCCESS, None)


def test_without_reasoning_the_answer_is_the_first_token_and_without_answer_there_is_none() -> None:
    plain = _feed_chat([(5, ROLE), (30, _chunk({"content": "1"})), (31, _chunk({}, "stop"))])
    assert plain.first_answer_ns == plain.first_content_ns == 30 * MS
    thinking_only = _feed_chat(
        [(5, _chunk({"reasoning_content": "hmm"})), (9, _chunk({}, "length"))]
    )
    assert thinking_only.first_content_ns == 5 * MS and thinking_only.first_answer_ns is None


def test_answer_starts_after_the_reasoning_summary_on_the_responses_api() -> None:
    # An o-series model on the Responses API with reasoning summaries: the summary's events,
    # then the output text.
    interpreter = ResponsesInterpreter()
    response = {"id": "resp_1", "model": "o4-mini-2025-04-16", "status": "in_progress"}
    usage = {
        "input_tokens": 12,
        "output_tokens": 420,
        "output_tokens_details": {"reasoning_tokens": 384},
        "total_tokens": 432,
    }
    reasoning_item = {"id": "rs_1", "type": "reasoning", "summary": []}
    events = [
        (10, _responses_event("response.created", response=response)),
        (11, _responses_event("response.output_item.added", output_index=0, item=reasoning_item)),
        (
            300,
            _responses_event(
                "response.reasoning_summary_part.added",
                item_id="rs_1",
                output_index=0,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            ),
        ),
        (
            310,
            _responses_event(
                "response.reasoning_summary_text.delta",
                item_id="rs_1",
                output_index=0,
                summary_index=0,
                delta="**Counting**",
            ),
        ),
        (
            320,
            _responses_event(
                "response.reasoning_summary_text.delta",
                item_id="rs_1",
                output_index=0,
                summary_index=0,
                delta=" to forty.",
            ),
        ),
        (
            1200,
            _responses_event(
                "response.output_text.delta",
                item_id="msg_1",
                output_index=1,
                content_index=0,
                delta="1 2",
            ),
        ),
        (
            1250,
            _responses_event(
                "response.output_text.delta",
                item_id="msg_1",
                output_index=1,
                content_index=0,
                delta=" 3",
            ),
        ),
        (
            1260,
            _responses_event(
                "response.completed", response={**response, "status": "completed", "usage": usage}
            ),
        ),
    ]
    for at_ms, event in events:
        interpreter.feed(event, at_ms * MS)
    state = interpreter.state
    assert state.first_content_ns == 310 * MS
    assert state.first_answer_ns == 1200 * MS
    assert state.reasoning_tokens == 384
    assert state.end_outcome() == (Outcome.SUCCESS, None)
