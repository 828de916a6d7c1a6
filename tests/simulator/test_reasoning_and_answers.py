"""What the simulator answers: the count the prompt asks for, a reasoning phase before the
answer (streamed as DeepSeek, vLLM and OpenRouter stream it, as a Responses API reasoning
summary, or hidden as OpenAI's o-series keep it), a stream cut short that claims to have
finished (``premature_stop``), and a TTFT that grows with the prompt. The official ``openai``
SDK reads every stream, and the ground truth says when the first token and the first answer
token went out."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from monitor.simulator import Simulator

from .helpers import OPENAI_KEY, make_config


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
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                delta = choice.delta.model_dump()
                text += delta.get("content") or ""
                thought += delta.get("reasoning_content") or delta.get("reasoning") or ""
                finish = choice.finish_reason or finish
    return text, thought, usage, finish


async def test_the_answer_is_the_count_the_prompt_asks_for() -> None:
    async with Simulator(make_config(openai={"output_tokens": None})) as sim:
        text, _, usage, finish = await _chat(sim, _count(12))
        assert text == " ".join(str(i) for i in range(1, 13)) and finish == "stop"
        assert usage.completion_tokens == 23
        # Capped by max_tokens: cut, and said so.
        text, _, _, finish = await _chat(sim, _count(40), max_completion_tokens=9)
        assert text == "1 2 3 4 5" and finish == "length"
        # A prompt that asks for no count gets the default length.
        _, _, usage, _ = await _chat(sim, [{"role": "user", "content": "Say hello."}])
        assert usage.completion_tokens == 79


@pytest.mark.parametrize("style", ["reasoning_content", "reasoning"])
async def test_streamed_reasoning_comes_before_the_answer(style: str) -> None:
    config = make_config(
        openai={"output_tokens": None, "ttft": "50ms", "tokens_per_second": 200,
                "reasoning": {"tokens": 40, "style": style}}
    )  # fmt: skip
    async with Simulator(config) as sim:
        text, thought, usage, finish = await _chat(sim, _count(10))
        assert text == "1 2 3 4 5 6 7 8 9 10" and finish == "stop"
        assert thought.startswith(" The user wants me to count")
        assert usage.completion_tokens == 40 + 19
        assert usage.completion_tokens_details.reasoning_tokens == 40
        (truth,) = sim.recent(1)
        assert truth.reasoning_tokens == 40 and truth.text == text
        # The answer starts after 40 reasoning tokens at 200 tok/s: 0.2 s after the first token.
        assert truth.ttft_seconds is not None and truth.answer_ttft_seconds is not None
        assert truth.answer_ttft_seconds - truth.ttft_seconds == pytest.approx(0.2, abs=0.03)


async def test_hidden_reasoning_delays_the_answer_and_counts_in_the_usage() -> None:
    config = make_config(
        openai={"output_tokens": None, "ttft": "50ms", "tokens_per_second": 200,
                "reasoning": {"tokens": 60, "style": "hidden"}}
    )  # fmt: skip
    async with Simulator(config) as sim:
        text, thought, usage, _ = await _chat(sim, _count(5))
        assert text == "1 2 3 4 5" and thought == ""
        assert usage.completion_tokens_details.reasoning_tokens == 60
        (truth,) = sim.recent(1)
        assert truth.ttft_seconds == truth.answer_ttft_seconds
        assert truth.ttft_seconds == pytest.approx(0.05 + 60 / 200, abs=0.03)
        # Reasoning that uses up max_tokens leaves no answer, and says "length".
        text, _, usage, finish = await _chat(sim, _count(5), max_completion_tokens=30)
        assert (text, finish, usage.completion_tokens) == ("", "length", 30)


async def test_the_responses_api_streams_a_reasoning_summary_then_the_message() -> None:
    config = make_config(
        openai={"output_tokens": None, "tokens_per_second": 500,
                "reasoning": {"tokens": 12, "style": "reasoning_content"}}
    )  # fmt: skip
    async with Simulator(config) as sim, _client(sim) as client:
        stream = await client.responses.create(
            model="gpt-4.1-nano", input="Count from 1 to 4, separated by spaces.", stream=True
        )
        kinds: list[str] = []
        summary = text = ""
        final = None
        async for event in stream:
            kinds.append(event.type)
            if event.type == "response.reasoning_summary_text.delta":
                summary += event.delta
            elif event.type == "response.output_text.delta":
                text += event.delta
                assert event.output_index == 1
            elif event.type == "response.completed":
                final = event.response
    assert kinds[:4] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.reasoning_summary_part.added",
    ]  # fmt: skip
    first_text = kinds.index("response.output_text.delta")
    assert kinds.index("response.reasoning_summary_text.done") < first_text
    assert text == "1 2 3 4" and summary.startswith(" The user wants")
    assert final is not None and final.usage is not None
    assert final.usage.output_tokens == 12 + 7
    assert final.usage.output_tokens_details.reasoning_tokens == 12
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == "1 2 3 4"


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_premature_stop_cuts_the_answer_but_finishes_as_if_whole(api: str) -> None:
    config = make_config(openai={"output_tokens": None, "mode": "premature_stop"})
    async with Simulator(config) as sim:
        if api == "chat":
            text, _, usage, finish = await _chat(sim, _count(40))
            # Usage counts what was sent: 40 of the 79 tokens ("1 " … "20 ").
            assert finish == "stop" and usage.completion_tokens == 40
        else:
            async with _client(sim) as client:
                response = await client.responses.create(
                    model="gpt-4.1-nano", input="Count from 1 to 40, separated by spaces.",
                    stream=True,
                )  # fmt: skip
                text = ""
                async for event in response:
                    if event.type == "response.output_text.delta":
                        text += event.delta
                    last = event.type
            assert last == "response.completed"
    # Half of "1 2 … 40": the count stops at 20.
    assert text.split()[-1] == "20"


async def test_the_ttft_grows_with_the_prompt() -> None:
    config = make_config(openai={"ttft": "100ms", "ttft_per_1k_input_tokens": "50ms"})
    async with Simulator(config) as sim:
        long = [{"role": "user", "content": " the" * 9_990 + " Count from 1 to 3."}]
        _, _, usage, _ = await _chat(sim, long)
        (truth,) = sim.recent(1)
        assert usage.prompt_tokens == truth.usage_prompt_tokens
        assert 10_000 <= usage.prompt_tokens <= 10_010
        expected = 0.1 + usage.prompt_tokens / 1000 * 0.05
        assert truth.planned_ttft_seconds == pytest.approx(expected)
        assert truth.ttft_seconds == pytest.approx(expected, abs=0.05)
