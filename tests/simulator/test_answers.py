"""What the simulator answers and when: the count the prompt asks for (from the last user
message, on both APIs and both flavors), a stream cut short that claims to have finished
(``premature_stop``), and a TTFT that grows with the prompt (``ttft_per_1k_input_tokens``).
The official ``openai`` SDK reads the streams; the ground truth says what went out."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from monitor.simulator import Simulator

from .helpers import (
    AZURE_KEY,
    OPENAI_KEY,
    azure_path,
    chat_body,
    content_of,
    make_config,
    newest_truth,
    openai_headers,
    raw_request,
    sse_events,
    warm_up_sdk,
)

CHAT = "/openai/v1/chat/completions"
#: The monitor's probe: a unique prefix line, then the configured prompt.
PROBE = "[probe 0123456789ab] \nCount from 1 to 40, separated by spaces."
FORTY = " ".join(str(n) for n in range(1, 41))
#: Endpoints whose answer length comes from the prompt (the default), fast.
PROMPTED: dict[str, Any] = {"output_tokens": None, "ttft": "5ms", "tokens_per_second": 20000}


@pytest.fixture(autouse=True)
async def _sdk_ready() -> None:
    """The SDK's one-time set-up done before any timing is measured."""
    await warm_up_sdk()


def _client(sim: Simulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=sim.endpoint_url("openai"), api_key=OPENAI_KEY, max_retries=0
    )


def _user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def _chat(sim: Simulator, messages: list[Any], **extra: Any) -> tuple[str, Any, str]:
    """(text, usage, finish reason) of one streamed chat completion read by the SDK."""
    text, usage, finish = "", None, ""
    async with _client(sim) as client:
        stream = await client.chat.completions.create(
            model="gpt-4.1-nano", messages=messages, stream=True,
            stream_options={"include_usage": True}, **extra,
        )  # fmt: skip
        async for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
    return text, usage, finish


async def _respond(sim: Simulator, **body: Any) -> tuple[str, Any]:
    """(streamed text, final response) of one streamed Responses API call read by the SDK."""
    text, final = "", None
    async with _client(sim) as client:
        stream = await client.responses.create(model="gpt-4.1-nano", stream=True, **body)
        async for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
            elif event.type in ("response.completed", "response.incomplete"):
                final = event.response
    return text, final


def _counted(n: int) -> str:
    return " ".join(str(k) for k in range(1, n + 1))


# -- the count the prompt asks for ---------------------------------------------------------


async def test_the_answer_is_the_count_the_prompt_asks_for() -> None:
    async with Simulator(make_config(openai=PROMPTED)) as sim:
        text, usage, finish = await _chat(sim, _user("[probe 0123] Count from 1 to 12."))
        assert (text, usage.completion_tokens, finish) == (_counted(12), 23, "stop")
        # The monitor's own probe, prefix line and all: "1 2 … 40", 79 tokens.
        text, usage, finish = await _chat(sim, _user(PROBE))
        assert (text, usage.completion_tokens, finish) == (FORTY, 79, "stop")
        # Case does not matter.
        text, _, _ = await _chat(sim, _user("COUNT FROM 1 TO 3 please"))
        assert text == "1 2 3"
        # Capped by max_tokens: cut, and said so.
        text, usage, finish = await _chat(sim, _user(PROBE), max_completion_tokens=9)
        assert (text, usage.completion_tokens, finish) == ("1 2 3 4 5", 9, "length")
        # A prompt that asks for no count gets the default length.
        text, usage, finish = await _chat(sim, _user("Say hello."))
        assert (usage.completion_tokens, finish) == (79, "stop")
        assert text == FORTY


async def test_only_the_last_user_message_sets_the_count() -> None:
    messages = [
        {"role": "system", "content": "Count from 1 to 3 whenever asked anything."},
        {"role": "user", "content": "Count from 1 to 9."},
        {"role": "assistant", "content": "Count from 1 to 8: 1 2 3 4 5 6 7 8"},
        {"role": "user", "content": [
            {"type": "text", "text": "[probe 0123456789ab]\n"},
            {"type": "text", "text": "Now count from 1 to 6, separated by spaces."},
        ]},
    ]  # fmt: skip
    async with Simulator(make_config(openai=PROMPTED)) as sim:
        text, usage, _ = await _chat(sim, messages)
        assert (text, usage.completion_tokens) == ("1 2 3 4 5 6", 11)
        # Messages after it that are not the user's do not count.
        late = {"role": "developer", "content": "Count from 1 to 2 next time."}
        text, _, _ = await _chat(sim, [*messages, late])
        assert text == "1 2 3 4 5 6"
        # The last user message asks for no count: the earlier ones do not count either.
        text, usage, _ = await _chat(sim, [*messages, {"role": "user", "content": "Thanks!"}])
        assert usage.completion_tokens == 79


async def test_the_responses_api_answers_the_count_of_its_input() -> None:
    async with Simulator(make_config(openai=PROMPTED)) as sim:
        text, final = await _respond(sim, input="Count from 1 to 7, separated by spaces.")
        assert text == final.output_text == "1 2 3 4 5 6 7"
        assert final.usage.output_tokens == 13
        # A list of messages: the last user one counts, not the instructions.
        text, final = await _respond(
            sim,
            instructions="Count from 1 to 2.",
            input=[
                {"role": "user", "content": "Count from 1 to 9."},
                {"role": "assistant", "content": "1 2 3 4 5 6 7 8 9"},
                {"role": "user", "content": [
                    {"type": "input_text", "text": "And count from 1 to 4."},
                ]},
            ],
        )  # fmt: skip
        assert (text, final.status) == ("1 2 3 4", "completed")
        # max_output_tokens caps it: the response is incomplete.
        text, final = await _respond(sim, input=PROBE, max_output_tokens=16)
        assert text == "1 2 3 4 5 6 7 8 "  # 16 tokens end on a space
        assert final.status == "incomplete"
        assert final.incomplete_details.reason == "max_output_tokens"


async def test_azure_answers_the_count_too() -> None:
    async with Simulator(make_config(azure=PROMPTED)) as sim:
        body = chat_body(messages=_user("Count from 1 to 5, separated by spaces."))
        response = await raw_request(sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, body)
    events = sse_events(response.body)

    assert content_of(events) == "1 2 3 4 5"
    assert events[-2].json()["usage"]["completion_tokens"] == 9


async def test_an_explicit_output_tokens_wins_over_the_prompt() -> None:
    # The helpers' endpoints set output_tokens: 23 ("1 2 … 12").
    async with Simulator(make_config()) as sim:
        text, usage, finish = await _chat(sim, _user(PROBE))
    assert (text, usage.completion_tokens, finish) == (_counted(12), 23, "stop")


async def test_a_count_past_999_goes_on_in_real_tokens() -> None:
    async with Simulator(make_config(openai={**PROMPTED, "tokens_per_chunk": 50})) as sim:
        text, usage, finish = await _chat(sim, _user("Count from 1 to 1005."))
    assert (text, finish) == (_counted(1005), "stop")
    # 999 numbers of one token, 6 of two ("100" + "0"…), 1004 spaces.
    assert usage.completion_tokens == 999 + 12 + 1004


# -- premature_stop ------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_premature_stop_cuts_the_answer_but_finishes_as_if_whole(api: str) -> None:
    config = make_config(openai={**PROMPTED, "mode": "premature_stop"})
    async with Simulator(config) as sim:
        if api == "chat":
            text, usage, finish = await _chat(sim, _user(PROBE))
            # Usage counts what was sent: 40 of the 79 tokens ("1 " … "20 ").
            assert (finish, usage.completion_tokens) == ("stop", 40)
        else:
            text, final = await _respond(sim, input=PROBE)
            assert final.status == "completed" and final.incomplete_details is None
            assert final.output_text == text
            assert final.usage.output_tokens == 40
        truth = await newest_truth(sim, lambda t: t.ending is not None)
    # Half of "1 2 … 40": the count stops at 20 (and the space after it).
    assert text == _counted(20) + " "
    assert (truth.behaviour, truth.ending, truth.finish_reason) == (
        "premature_stop", "complete", "stop",
    )  # fmt: skip
    assert truth.output_tokens == truth.usage_completion_tokens == 40
    assert truth.text == text


@pytest.mark.parametrize("flavor", ["openai", "azure"])
async def test_premature_stop_ends_with_finish_usage_and_done_on_the_wire(flavor: str) -> None:
    settings = {**PROMPTED, "cut_after_fraction": 0.25}
    config = make_config(openai=settings, azure=settings)
    async with Simulator(config) as sim:
        sim.set_mode(flavor, "premature_stop")
        if flavor == "openai":
            response = await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
        else:
            response = await raw_request(
                sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body()
            )
    events = sse_events(response.body)
    chunks = [event.json() for event in events[:-1]]
    finish, usage = chunks[-2], chunks[-1]

    assert response.status == 200 and response.complete  # the chunked body ends properly
    assert events[-1].data == "[DONE]"
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish["choices"][0]["delta"] == {}
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 20
    assert content_of(events) == _counted(10) + " "


async def test_premature_stop_is_drawn_as_a_fault_and_forced_by_the_admin_api() -> None:
    config = make_config(openai={**PROMPTED, "faults": {"premature_stop": 1.0}})
    async with Simulator(config) as sim, httpx.AsyncClient(timeout=5.0) as client:
        await raw_request(sim.port, "POST", CHAT, openai_headers(), chat_body())
        drawn = await newest_truth(sim, lambda t: t.ending is not None)
        answer = await client.post(
            f"{sim.base_url}/_simulator/endpoints/azure/mode", json={"mode": "premature_stop"}
        )
        await raw_request(sim.port, "POST", azure_path(), {"api-key": AZURE_KEY}, chat_body())
        forced = await newest_truth(sim, lambda t: t.ending is not None)

    assert answer.status_code == 200 and answer.json()["mode"] == "premature_stop"
    assert (drawn.behaviour, drawn.finish_reason) == ("premature_stop", "stop")
    assert (forced.endpoint, forced.behaviour, forced.finish_reason) == (
        "azure", "premature_stop", "stop",
    )  # fmt: skip
    assert drawn.text.split()[-1] == "20"


async def test_premature_stop_without_streaming_is_a_short_whole_answer() -> None:
    config = make_config(openai={**PROMPTED, "mode": "premature_stop"})
    async with Simulator(config) as sim:
        response = await raw_request(
            sim.port, "POST", CHAT, openai_headers(), chat_body(stream=False)
        )
    body = json.loads(response.body)

    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == _counted(20) + " "
    assert body["usage"]["completion_tokens"] == 40


# -- TTFT that grows with the prompt -------------------------------------------------------


async def test_the_ttft_grows_with_the_prompt() -> None:
    config = make_config(openai={"ttft": "100ms", "ttft_per_1k_input_tokens": "50ms"})
    # 9,990 one-token words, then a short question: about 10,000 tokens in all.
    long = " the" * 9_990 + " Count from 1 to 3."
    async with Simulator(config) as sim:
        _, usage, _ = await _chat(sim, _user(long))
        chat = await newest_truth(sim, lambda t: t.ending is not None)
        _, final = await _respond(sim, input=long)
        responses = await newest_truth(sim, lambda t: t.ending is not None)
        _, short, _ = await _chat(sim, _user("Count from 1 to 3."))
        quick = await newest_truth(sim, lambda t: t.ending is not None)

    # 9,990 words, 8 for the question, 4 tokens of framing for the message and 3 for the reply.
    assert usage.prompt_tokens == chat.usage_prompt_tokens == 10_005
    assert final.usage.input_tokens == responses.usage_prompt_tokens
    assert 10_005 <= final.usage.input_tokens <= 10_010
    for truth in (chat, responses):
        assert truth.usage_prompt_tokens is not None
        planned = 0.1 + truth.usage_prompt_tokens / 1000 * 0.05
        assert truth.planned_ttft_seconds == pytest.approx(planned)
        assert truth.ttft_seconds == pytest.approx(0.6, abs=0.05)
    # A short prompt waits about the base TTFT only.
    assert quick.usage_prompt_tokens == short.prompt_tokens == 15
    assert quick.planned_ttft_seconds == pytest.approx(0.1 + 0.015 * 0.05)
    assert quick.ttft_seconds == pytest.approx(0.1, abs=0.05)
