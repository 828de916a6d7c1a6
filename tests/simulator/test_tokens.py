"""The simulator's tokens are real tokens: recounting what it streamed with OpenAI's tokenizers
(cl100k_base and o200k_base, as a gateway such as LiteLLM does when a stream is cut) gives its
usage count, and its prompt count is what OpenAI's rule for chats gives for everyday words.

The tokenizer is ``bpe-openai`` (GitHub's Rust BPE with OpenAI's published merge tables in the
wheel, so nothing is downloaded at run time).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import httpx
import pytest

from monitor.simulator import Simulator, SimulatorConfig

from .helpers import (
    API_VERSION,
    DEPLOYMENT,
    azure_path,
    chat_body,
    content_of,
    make_config,
    openai_headers,
    raw_request,
    sse_events,
)

with warnings.catch_warnings():
    # bpe-openai 0.1.4 loads its tables at import with importlib.resources.open_binary, which
    # Python deprecates; the warning is the package's, not ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    import bpe_openai

ENCODINGS = ["cl100k_base", "o200k_base"]
PROMPT = "Count from 1 to 40, separated by spaces."


@functools.cache
def _tokenizer(encoding: str) -> Any:
    """OpenAI's tokenizer ``encoding``, loaded once (loading it takes a while)."""
    return bpe_openai.get_encoding(encoding)


def recount(text: str, encoding: str) -> int:
    """How many tokens ``text`` is to OpenAI's tokenizer ``encoding``."""
    return len(_tokenizer(encoding).encode(text))


def chat_prompt_tokens(messages: list[dict[str, str]], encoding: str) -> int:
    """OpenAI's count of a chat's prompt: 3 per message, its values' tokens, 3 for the reply."""
    per_message = (3 + sum(recount(value, encoding) for value in m.values()) for m in messages)
    return sum(per_message) + 3


def usage_of(body: bytes) -> dict[str, Any]:
    """The usage object of a chat completions stream."""
    chunks = [event.json() for event in sse_events(body) if event.data != "[DONE]"]
    usage = chunks[-1]["usage"]
    assert isinstance(usage, dict)
    return usage


def content_deltas(body: bytes) -> list[str]:
    """Each content chunk's text, in order."""
    return [
        chunk["choices"][0]["delta"]["content"]
        for event in sse_events(body)
        if event.data != "[DONE]"
        and (chunk := event.json())["choices"]
        and chunk["choices"][0]["delta"].get("content")
    ]


def default_endpoints(**extra: Any) -> dict[str, Any]:
    """Fast endpoint overrides; the answer length is ``extra``'s, else the helpers' 23 tokens."""
    return {"ttft": "5ms", "tokens_per_second": 20000, **extra}


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_default_answer_recounts_to_the_usage_it_reports(encoding: str) -> None:
    async with Simulator(make_config(openai=default_endpoints(output_tokens=79))) as sim:
        response = await raw_request(
            sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )
    text = content_of(sse_events(response.body))
    usage = usage_of(response.body)

    assert text == " ".join(str(n) for n in range(1, 41))
    assert recount(text, encoding) == usage["completion_tokens"] == 79
    assert all(recount(delta, encoding) == 1 for delta in content_deltas(response.body))


async def test_an_endpoint_left_at_its_defaults_answers_the_whole_count_to_forty() -> None:
    data = {"port": 0, "endpoints": [{"id": "openai", "ttft": "5ms", "tokens_per_second": 20000}]}
    async with Simulator(SimulatorConfig.model_validate(data)) as sim:
        response = await raw_request(
            sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), chat_body()
        )

    assert content_of(sse_events(response.body)) == " ".join(str(n) for n in range(1, 41))
    assert usage_of(response.body)["completion_tokens"] == 79


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    ("endpoint", "max_tokens"),
    [
        ({"tokens_per_chunk": [1, 3]}, None),
        ({"tokens_per_chunk": [2, 5]}, 50),
        ({"tokens_per_chunk": 7}, 64),
        ({"tokens_per_chunk": 100, "output_tokens": 2100}, None),
    ],
    ids=["chunks-1-3", "cut-at-50", "cut-at-64", "past-999"],
)
async def test_any_chunking_or_cut_recounts_to_the_usage(
    encoding: str, endpoint: dict[str, Any], max_tokens: int | None
) -> None:
    config = make_config(openai=default_endpoints(**{"output_tokens": 79, **endpoint}))
    body = chat_body() if max_tokens is None else chat_body(max_completion_tokens=max_tokens)
    async with Simulator(config) as sim:
        response = await raw_request(
            sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), body
        )
    text = content_of(sse_events(response.body))

    assert recount(text, encoding) == usage_of(response.body)["completion_tokens"]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_responses_api_and_azure_recount_to_their_usage(encoding: str) -> None:
    config = make_config(openai=default_endpoints(), azure=default_endpoints())
    async with Simulator(config) as sim, httpx.AsyncClient(timeout=5.0) as client:
        responses = await client.post(
            sim.endpoint_url("openai") + "/responses",
            headers=openai_headers(),
            json={"model": "gpt-4.1-nano", "input": PROMPT, "stream": True},
        )
        azure = await client.post(
            sim.base_url + azure_path(DEPLOYMENT, API_VERSION),
            headers={"api-key": "azure-sim-key-0123456789"},
            json=chat_body(),
        )
    events = sse_events(responses.content)
    completed = events[-1].json()["response"]
    deltas = "".join(e.json()["delta"] for e in events if e.event == "response.output_text.delta")

    assert recount(deltas, encoding) == completed["usage"]["output_tokens"]
    assert (
        recount(content_of(sse_events(azure.content)), encoding)
        == (usage_of(azure.content)["completion_tokens"])
    )


@pytest.mark.parametrize(
    ("messages", "encoding"),
    [
        ([{"role": "user", "content": PROMPT}], "cl100k_base"),
        ([{"role": "user", "content": PROMPT}], "o200k_base"),
        (
            [
                {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
                {"role": "user", "content": "What's the capital of France? Say it in one word."},
            ],
            # the simulated models' own tokenizer: o200k keeps "What's" whole, cl100k does not
            "o200k_base",
        ),
    ],
    ids=["default-prompt-cl100k", "default-prompt-o200k", "system-and-user-o200k"],
)
async def test_prompt_tokens_are_what_openai_counts_for_everyday_words(
    messages: list[dict[str, str]], encoding: str
) -> None:
    async with Simulator(make_config(openai=default_endpoints())) as sim:
        response = await raw_request(
            sim.port,
            "POST",
            "/openai/v1/chat/completions",
            openai_headers(),
            chat_body(messages=messages),
        )

    assert usage_of(response.body)["prompt_tokens"] == chat_prompt_tokens(messages, encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_a_prompt_of_numbers_is_counted_by_tokens_not_characters(encoding: str) -> None:
    # 110 numbers and 109 spaces: 219 tokens, where characters ÷ 4 would say about 100.
    messages = [{"role": "user", "content": " ".join(str(n) for n in range(1, 111))}]
    async with Simulator(make_config(openai=default_endpoints())) as sim:
        response = await raw_request(
            sim.port,
            "POST",
            "/openai/v1/chat/completions",
            openai_headers(),
            chat_body(messages=messages),
        )

    assert usage_of(response.body)["prompt_tokens"] == chat_prompt_tokens(messages, encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_reasoning_and_a_count_past_999_are_single_real_tokens(encoding: str) -> None:
    settings = default_endpoints(output_tokens=None, reasoning={"tokens": 100})
    messages = [{"role": "user", "content": "Count from 1 to 1010, separated by spaces."}]
    async with Simulator(make_config(openai=settings)) as sim:
        response = await raw_request(
            sim.port, "POST", "/openai/v1/chat/completions", openai_headers(),
            chat_body(messages=messages),
        )  # fmt: skip
    deltas = [
        chunk["choices"][0]["delta"]
        for event in sse_events(response.body)
        if event.data != "[DONE]" and (chunk := event.json())["choices"]
    ]
    thoughts = [delta["reasoning_content"] for delta in deltas if "reasoning_content" in delta]
    answer = content_deltas(response.body)
    usage = usage_of(response.body)

    assert "".join(answer) == " ".join(str(n) for n in range(1, 1011))
    assert len(thoughts) == 100
    assert all(recount(piece, encoding) == 1 for piece in thoughts + answer)
    assert recount("".join(thoughts), encoding) == 100
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 100
    assert usage["completion_tokens"] == 100 + recount("".join(answer), encoding)
