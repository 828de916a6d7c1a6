"""A reasoning phase before the answer: streamed as DeepSeek and vLLM (``reasoning_content``)
or OpenRouter (``reasoning``) stream it, as a Responses API reasoning item with its summary, or
hidden as OpenAI's o-series keep it. The official ``openai`` SDK reads every stream into its
typed classes, the usage counts the reasoning, it uses up ``max_tokens`` as on real models, and
the ground truth tells the first token from the first answer token."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseIncompleteEvent,
    ResponseOutputItem,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseReasoningItem,
    ResponseReasoningSummaryPartAddedEvent,
    ResponseReasoningSummaryPartDoneEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_usage import OutputTokensDetails

from monitor.simulator import Simulator

from .helpers import (
    AZURE_KEY,
    OPENAI_KEY,
    azure_path,
    chat_body,
    make_config,
    newest_truth,
    openai_headers,
    raw_request,
    sse_events,
    warm_up_sdk,
)

CHAT = "/openai/v1/chat/completions"


@pytest.fixture(autouse=True)
async def _sdk_ready() -> None:
    """The SDK's one-time set-up done before any timing is measured."""
    await warm_up_sdk()


def _reasoning(tokens: int, style: str, **extra: Any) -> dict[str, Any]:
    """Endpoint overrides: the prompt's count, ``tokens`` of reasoning in ``style``."""
    return {
        "output_tokens": None,
        "ttft": "50ms",
        "tokens_per_second": 200,
        "reasoning": {"tokens": tokens, "style": style},
        **extra,
    }


def _client(sim: Simulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=sim.endpoint_url("openai"), api_key=OPENAI_KEY, max_retries=0
    )


def _count(n: int) -> list[Any]:
    return [{"role": "user", "content": f"[probe 0123] Count from 1 to {n}, separated by spaces."}]


async def _chat(sim: Simulator, messages: list[Any], **extra: Any) -> tuple[str, str, Any, str]:
    """(answer text, reasoning text, usage, finish reason) of one streamed chat completion."""
    text, thought, usage, finish = "", "", None, ""
    async with _client(sim) as client:
        stream = await client.chat.completions.create(
            model="gpt-4.1-nano", messages=messages, stream=True,
            stream_options={"include_usage": True}, **extra,
        )  # fmt: skip
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                delta = choice.delta.model_dump()
                text += delta.get("content") or ""
                thought += delta.get("reasoning_content") or delta.get("reasoning") or ""
                finish = choice.finish_reason or finish
    return text, thought, usage, finish


# -- chat completions ----------------------------------------------------------------------


@pytest.mark.parametrize("style", ["reasoning_content", "reasoning"])
async def test_streamed_reasoning_comes_before_the_answer(style: str) -> None:
    async with Simulator(make_config(openai=_reasoning(40, style))) as sim:
        text, thought, usage, finish = await _chat(sim, _count(10))
        truth = await newest_truth(sim, lambda t: t.ending is not None)
    assert text == "1 2 3 4 5 6 7 8 9 10" and finish == "stop"
    assert thought.startswith(" The user wants me to count")
    assert usage.completion_tokens == 40 + 19
    assert usage.completion_tokens_details.reasoning_tokens == 40
    # The truth counts every chunk and token, reasoning included, but only the answer's text.
    assert (truth.reasoning_tokens, truth.content_chunks, truth.output_tokens) == (40, 59, 59)
    assert truth.text == text
    # The first reasoning token goes out at the TTFT; the answer follows 40 tokens at 200 tok/s
    # later, right after the last reasoning token.
    assert truth.ttft_seconds == pytest.approx(0.05, abs=0.03)
    assert truth.answer_ttft_seconds == pytest.approx(0.05 + 40 / 200, abs=0.03)
    assert truth.first_content_sent_ns is not None and truth.first_answer_sent_ns is not None
    assert truth.first_content_sent_ns < truth.first_answer_sent_ns


@pytest.mark.parametrize(
    ("flavor", "style"), [("openai", "reasoning"), ("azure", "reasoning_content")]
)
async def test_reasoning_chunks_carry_one_word_each_and_no_content(flavor: str, style: str) -> None:
    settings = _reasoning(7, style, ttft="5ms", tokens_per_second=5000)
    async with Simulator(make_config(openai=settings, azure=settings)) as sim:
        if flavor == "openai":
            response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
        else:
            response = await raw_request(
                sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body()
            )
    chunks = [e.json() for e in sse_events(response.body) if e.data != "[DONE]"]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]][1:-1]  # no role, finish

    assert deltas[:7] == [
        {"content": None, style: word}
        for word in (" The", " user", " wants", " me", " to", " count", " from")
    ]
    assert all(set(delta) == {"content"} for delta in deltas[7:])
    assert "".join(delta["content"] for delta in deltas[7:]) == " ".join(map(str, range(1, 41)))
    if flavor == "azure":  # Azure sorts the keys, and annotates every choice
        assert list(chunks[2]) == sorted(chunks[2])
        assert chunks[2]["choices"][0]["content_filter_results"] == {}
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 7


async def test_reasoning_comes_in_chunks_of_tokens_per_chunk() -> None:
    config = make_config(openai=_reasoning(10, "reasoning_content", tokens_per_chunk=3))
    async with Simulator(config) as sim:
        text, thought, _, _ = await _chat(sim, _count(4))
        truth = await newest_truth(sim, lambda t: t.ending is not None)
    assert thought == " The user wants me to count from one to forty"
    assert text == "1 2 3 4"
    # 10 reasoning tokens in 4 chunks (3, 3, 3, 1), 7 answer tokens in 3 (3, 3, 1).
    assert (truth.content_chunks, truth.output_tokens) == (7, 17)


async def test_hidden_reasoning_delays_the_answer_and_counts_in_the_usage() -> None:
    async with Simulator(make_config(openai=_reasoning(60, "hidden"))) as sim:
        text, thought, usage, _ = await _chat(sim, _count(5))
        truth = await newest_truth(sim, lambda t: t.ending is not None)
        assert text == "1 2 3 4 5" and thought == ""
        assert usage.completion_tokens == 60 + 9
        assert usage.completion_tokens_details.reasoning_tokens == 60
        # Nothing streamed while it thinks: the first token is the answer's, 60 tokens late.
        assert truth.ttft_seconds == truth.answer_ttft_seconds
        assert truth.ttft_seconds == pytest.approx(0.05 + 60 / 200, abs=0.03)
        assert truth.planned_ttft_seconds == pytest.approx(0.05 + 60 / 200)
        # Only the answer was streamed: the truth's chunks and tokens are its (the monitor times
        # those); the plan and the usage count the hidden reasoning too.
        assert (truth.reasoning_tokens, truth.content_chunks, truth.output_tokens) == (60, 9, 9)
        assert truth.planned_output_tokens == truth.usage_completion_tokens == 69
        # Reasoning that uses up max_tokens leaves no answer, and says "length".
        text, _, usage, finish = await _chat(sim, _count(5), max_completion_tokens=30)
        assert (text, finish, usage.completion_tokens) == ("", "length", 30)
        assert usage.completion_tokens_details.reasoning_tokens == 30


async def test_reasoning_counts_against_max_tokens() -> None:
    async with Simulator(make_config(openai=_reasoning(10, "reasoning_content"))) as sim:
        text, thought, usage, finish = await _chat(sim, _count(40), max_tokens=15)
        assert (text, finish) == ("1 2 3", "length")
        assert thought == " The user wants me to count from one to forty"  # ten tokens
        assert (usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens) == (
            15, 10,
        )  # fmt: skip
        # All of it used up by reasoning: no answer at all.
        text, thought, usage, finish = await _chat(sim, _count(40), max_tokens=6)
        truth = await newest_truth(sim, lambda t: t.ending is not None)
    assert (text, finish, usage.completion_tokens) == ("", "length", 6)
    assert thought == " The user wants me to count"
    assert truth.first_content_sent_ns is not None and truth.first_answer_sent_ns is None
    assert truth.answer_ttft_seconds is None


async def test_a_whole_chat_completion_carries_its_reasoning_and_counts_it() -> None:
    config = make_config(openai=_reasoning(5, "reasoning_content"))
    async with Simulator(config) as sim, _client(sim) as client:
        completion = await client.chat.completions.create(model="gpt-4.1-nano", messages=_count(3))
    message = completion.choices[0].message

    assert message.content == "1 2 3"
    assert (message.model_extra or {})["reasoning_content"] == " The user wants me to"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5 + 5
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 5


# -- the Responses API ---------------------------------------------------------------------

#: Every event type the reasoning streams carry, with the SDK class that must validate it.
_EVENT_CLASSES: dict[str, type[pydantic.BaseModel]] = {
    "response.output_item.added": ResponseOutputItemAddedEvent,
    "response.output_item.done": ResponseOutputItemDoneEvent,
    "response.reasoning_summary_part.added": ResponseReasoningSummaryPartAddedEvent,
    "response.reasoning_summary_text.delta": ResponseReasoningSummaryTextDeltaEvent,
    "response.reasoning_summary_text.done": ResponseReasoningSummaryTextDoneEvent,
    "response.reasoning_summary_part.done": ResponseReasoningSummaryPartDoneEvent,
    "response.content_part.added": ResponseContentPartAddedEvent,
    "response.output_text.delta": ResponseTextDeltaEvent,
    "response.output_text.done": ResponseTextDoneEvent,
    "response.content_part.done": ResponseContentPartDoneEvent,
}
_OUTPUT_ITEM: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseOutputItem)


def _strictly_valid(events: list[dict[str, Any]]) -> None:
    """Validate every event against the SDK's own types (not the lenient parse the SDK does
    while streaming): all required fields present, with the right types, numbered in order."""
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    for event in events:
        kind = event["type"]
        if kind in _EVENT_CLASSES:
            _EVENT_CLASSES[kind].model_validate(event, strict=True)
        else:
            assert kind in ("response.created", "response.in_progress") or kind in (
                "response.completed", "response.incomplete",
            ), kind  # fmt: skip
            response = event["response"]
            for item in response["output"]:
                _OUTPUT_ITEM.validate_python(item, strict=True)
            if response["usage"] is not None:
                details = response["usage"]["output_tokens_details"]
                OutputTokensDetails.model_validate(details, strict=True)


async def _raw_responses(sim: Simulator, **body: Any) -> list[dict[str, Any]]:
    """The events of one streamed Responses API call, as JSON."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        answer = await client.post(
            sim.endpoint_url("openai") + "/responses",
            headers=openai_headers(),
            json={"model": "gpt-4.1-nano", "stream": True, **body},
        )
    events = sse_events(answer.content)
    assert all(event.event == event.json()["type"] for event in events)
    return [event.json() for event in events]


async def test_the_responses_api_streams_a_reasoning_summary_then_the_message() -> None:
    config = make_config(openai=_reasoning(12, "reasoning_content"))
    async with Simulator(config) as sim, _client(sim) as client:
        stream = await client.responses.create(
            model="gpt-4.1-nano", input="Count from 1 to 4, separated by spaces.", stream=True
        )
        kinds: list[str] = []
        summary = text = ""
        final = None
        async for event in stream:
            kinds.append(event.type)
            if isinstance(event, ResponseOutputItemAddedEvent) and not kinds[3:]:
                assert isinstance(event.item, ResponseReasoningItem)
                assert (event.output_index, event.item.summary) == (0, [])
            elif isinstance(event, ResponseReasoningSummaryTextDeltaEvent):
                assert (event.output_index, event.summary_index) == (0, 0)
                summary += event.delta
            elif isinstance(event, ResponseReasoningSummaryTextDoneEvent):
                assert event.text == summary
            elif isinstance(event, ResponseReasoningSummaryPartDoneEvent):
                assert (event.part.text, event.status) == (summary, None)
            elif isinstance(event, ResponseTextDeltaEvent):
                assert event.output_index == 1
                text += event.delta
            elif isinstance(event, ResponseCompletedEvent):
                final = event.response
        truth = await newest_truth(sim, lambda t: t.ending is not None)
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * 12,
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 7,
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    assert text == "1 2 3 4" and summary.startswith(" The user wants")
    assert final is not None and final.usage is not None
    assert final.usage.output_tokens == 12 + 7
    assert final.usage.output_tokens_details.reasoning_tokens == 12
    assert [item.type for item in final.output] == ["reasoning", "message"]
    reasoning = final.output[0]
    assert isinstance(reasoning, ResponseReasoningItem)
    assert [part.text for part in reasoning.summary] == [summary]
    assert final.output_text == "1 2 3 4"
    assert truth.first_answer_sent_ns is not None and truth.first_content_sent_ns is not None
    assert truth.first_content_sent_ns < truth.first_answer_sent_ns
    assert (truth.reasoning_tokens, truth.content_chunks, truth.text) == (12, 19, text)


async def test_hidden_reasoning_on_the_responses_api_is_an_item_without_a_summary() -> None:
    async with Simulator(make_config(openai=_reasoning(40, "hidden"))) as sim:
        async with _client(sim) as client:
            stream = await client.responses.create(
                model="gpt-4.1-nano", input=_count(3), stream=True
            )
            events = [event async for event in stream]
        truth = await newest_truth(sim, lambda t: t.ending is not None)
        raw = await _raw_responses(sim, input=_count(3))
    _strictly_valid(raw)

    assert [event.type for event in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 5,
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    added, done = events[2], events[3]
    assert isinstance(added, ResponseOutputItemAddedEvent)
    assert isinstance(done, ResponseOutputItemDoneEvent)
    for item_event in (added, done):
        assert item_event.output_index == 0
        assert isinstance(item_event.item, ResponseReasoningItem)
        assert item_event.item.summary == []
    assert all(
        event.output_index == 1 for event in events if isinstance(event, ResponseTextDeltaEvent)
    )
    final = events[-1]
    assert isinstance(final, ResponseCompletedEvent) and final.response.usage is not None
    assert final.response.output_text == "1 2 3"
    assert final.response.usage.output_tokens == 40 + 5
    assert final.response.usage.output_tokens_details.reasoning_tokens == 40
    assert truth.ttft_seconds == truth.answer_ttft_seconds
    assert truth.ttft_seconds == pytest.approx(0.05 + 40 / 200, abs=0.03)


@pytest.mark.parametrize("style", ["reasoning_content", "hidden"])
async def test_reasoning_that_uses_up_max_output_tokens_leaves_only_the_reasoning_item(
    style: str,
) -> None:
    async with Simulator(make_config(openai=_reasoning(30, style, ttft="5ms"))) as sim:
        raw = await _raw_responses(sim, input=_count(40), max_output_tokens=20)
        async with _client(sim) as client:
            stream = await client.responses.create(
                model="gpt-4.1-nano", input=_count(40), max_output_tokens=20, stream=True
            )
            events = [event async for event in stream]
    _strictly_valid(raw)

    kinds = [event.type for event in events]
    assert "response.output_text.delta" not in kinds
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done")
    assert kinds.count("response.output_item.done") == 1
    final = events[-1]
    assert isinstance(final, ResponseIncompleteEvent)
    response = final.response
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert [item.type for item in response.output] == ["reasoning"]
    assert response.output_text == ""
    assert response.usage is not None
    assert response.usage.output_tokens == response.usage.output_tokens_details.reasoning_tokens
    assert response.usage.output_tokens == 20
    if style == "reasoning_content":
        (part_done,) = [e for e in events if isinstance(e, ResponseReasoningSummaryPartDoneEvent)]
        assert part_done.status == "incomplete"  # the summary was cut
        assert kinds.count("response.reasoning_summary_text.delta") == 20


async def test_every_reasoning_event_is_what_the_sdk_types_require() -> None:
    config = make_config(openai=_reasoning(6, "reasoning_content", ttft="5ms"))
    async with Simulator(config) as sim:
        events = await _raw_responses(sim, input="Count from 1 to 3.")
    _strictly_valid(events)
    deltas = [e for e in events if e["type"] == "response.reasoning_summary_text.delta"]

    assert len(deltas) == 6
    assert {e["item_id"] for e in deltas} == {events[2]["item"]["id"]}
    assert events[2]["item"]["id"].startswith("rs_")
    assert all("obfuscation" in e for e in deltas)  # padded like the text deltas
    assert list(deltas[0]) == ["type", *sorted(k for k in deltas[0] if k != "type")]


async def test_a_whole_response_carries_the_reasoning_item_and_counts_it() -> None:
    for style, summary in (("reasoning", [" The user wants me"]), ("hidden", [])):
        config = make_config(openai=_reasoning(4, style, ttft="5ms"))
        async with Simulator(config) as sim, _client(sim) as client:
            response = await client.responses.create(model="gpt-4.1-nano", input=_count(2))
        reasoning = response.output[0]
        assert isinstance(reasoning, ResponseReasoningItem)
        assert [part.text for part in reasoning.summary] == summary
        assert response.output_text == "1 2"
        assert response.usage is not None
        assert response.usage.output_tokens == 4 + 3
        assert response.usage.output_tokens_details.reasoning_tokens == 4


# -- the ground truth over the admin API ---------------------------------------------------


async def test_the_admin_api_serves_the_answer_ttft_and_reasoning_tokens() -> None:
    async with Simulator(make_config(openai=_reasoning(20, "reasoning_content"))) as sim:
        response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
        request_id = response.header("x-request-id")
        await newest_truth(sim, lambda t: t.ending is not None)
        async with httpx.AsyncClient(timeout=5.0) as client:
            served = (await client.get(f"{sim.base_url}/_simulator/requests/{request_id}")).json()
    truth = json.loads(json.dumps(served))

    assert truth["reasoning_tokens"] == 20
    assert truth["first_answer_sent_ns"] > truth["first_content_sent_ns"]
    assert truth["answer_ttft_seconds"] - truth["ttft_seconds"] == pytest.approx(0.1, abs=0.03)
    assert truth["output_tokens"] == 20 + 79
