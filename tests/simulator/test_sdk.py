"""The official ``openai`` SDK as a real client: it streams, parses and raises as against the
real services, and sees exactly what the simulator's ground truth says it sent.

Sync clients run in a worker thread (``asyncio.to_thread``) while the simulator serves on the
test's event loop; every client has ``max_retries=0``.
"""

from __future__ import annotations

import asyncio

import openai
import pytest

from monitor.simulator import Simulator

from .helpers import API_VERSION, AZURE_KEY, DEPLOYMENT, ENTRA_TOKEN, OPENAI_KEY

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Count from 1 to 40, separated by spaces."}
]


def async_openai(sim: Simulator, key: str = OPENAI_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=sim.endpoint_url("openai"), api_key=key, max_retries=0)


def azure_client(
    sim: Simulator, *, api_key: str | None = None, azure_ad_token: str | None = None
) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=sim.endpoint_url("azure"),
        api_version=API_VERSION,
        azure_deployment=DEPLOYMENT,
        api_key=api_key,
        azure_ad_token=azure_ad_token,
        max_retries=0,
    )


async def collect_text(
    stream: openai.AsyncStream[openai.types.chat.ChatCompletionChunk], parts: list[str]
) -> None:
    """Append each chunk's content to ``parts`` until the stream ends (or raises)."""
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")


async def test_async_client_streams_the_text_and_usage_the_truth_records(sim: Simulator) -> None:
    async with async_openai(sim) as client:
        stream = await client.chat.completions.create(
            model="gpt-4.1-nano",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = ""
        usage = None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if chunk.usage is not None:
                usage = chunk.usage
        request_id = stream.response.headers["x-request-id"]
    truth = sim.truth(request_id)

    assert truth is not None
    assert text == truth.text == "1 2 3 4 5 6 7 8 9 10 11 12"
    assert usage is not None
    assert usage.completion_tokens == truth.output_tokens == truth.usage_completion_tokens
    assert usage.prompt_tokens == truth.usage_prompt_tokens


async def test_sync_client_gets_a_non_streamed_completion(sim: Simulator) -> None:
    def call() -> tuple[str | None, int, str]:
        with openai.OpenAI(
            base_url=sim.endpoint_url("openai"), api_key=OPENAI_KEY, max_retries=0
        ) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4.1-nano", messages=MESSAGES
            )
            completion = raw.parse()
            assert completion.usage is not None
            return (
                completion.choices[0].message.content,
                completion.usage.completion_tokens,
                raw.headers["x-request-id"],
            )

    content, tokens, request_id = await asyncio.to_thread(call)
    truth = sim.truth(request_id)

    assert truth is not None
    assert content == truth.text
    assert tokens == truth.output_tokens == 23


async def test_responses_stream_reaches_completed_with_the_sent_text(sim: Simulator) -> None:
    async with async_openai(sim) as client:
        stream = await client.responses.create(
            model="gpt-4.1-nano", input="Count from 1 to 40.", stream=True
        )
        deltas = ""
        completed = None
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas += event.delta
            elif event.type == "response.completed":
                completed = event.response
        request_id = stream.response.headers["x-request-id"]
    truth = sim.truth(request_id)

    assert truth is not None
    assert completed is not None
    assert deltas == completed.output_text == truth.text
    assert completed.usage is not None
    assert completed.usage.output_tokens == truth.output_tokens == truth.usage_completion_tokens


async def test_azure_client_with_api_key_streams_from_the_deployment(sim: Simulator) -> None:
    def call() -> tuple[str, int | None, str, str]:
        with azure_client(sim, api_key=AZURE_KEY) as client:
            stream = client.chat.completions.create(
                model=DEPLOYMENT,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            text = ""
            completion_tokens = None
            for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                if chunk.usage is not None:
                    completion_tokens = chunk.usage.completion_tokens
            headers = stream.response.headers
            return text, completion_tokens, headers["apim-request-id"], headers["x-request-id"]

    text, tokens, apim_id, request_id = await asyncio.to_thread(call)
    truth = sim.truth(apim_id)

    assert truth is not None
    assert truth == sim.truth(request_id)
    assert text == truth.text
    assert tokens == truth.output_tokens == 23


async def test_azure_client_with_an_entra_token(sim: Simulator) -> None:
    def call() -> tuple[str | None, str]:
        with azure_client(sim, azure_ad_token=ENTRA_TOKEN) as client:
            chat = client.chat.completions.create(model=DEPLOYMENT, messages=MESSAGES)
            response = client.responses.create(model=DEPLOYMENT, input="Count.")
            return chat.choices[0].message.content, response.output_text

    chat_text, responses_text = await asyncio.to_thread(call)

    assert chat_text == responses_text == "1 2 3 4 5 6 7 8 9 10 11 12"


async def test_wrong_keys_raise_authentication_error(sim: Simulator) -> None:
    async with async_openai(sim, key="sk-wrong") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="gpt-4.1-nano", messages=MESSAGES)
    assert caught.value.code == "invalid_api_key"

    def azure_call() -> None:
        with azure_client(sim, api_key="wrong") as client:
            client.chat.completions.create(model=DEPLOYMENT, messages=MESSAGES)

    with pytest.raises(openai.AuthenticationError) as azure_caught:
        await asyncio.to_thread(azure_call)
    assert azure_caught.value.code == "401"


async def test_unknown_model_and_deployment_raise_not_found(sim: Simulator) -> None:
    async with async_openai(sim) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="gpt-nope", messages=MESSAGES)
    assert caught.value.code == "model_not_found"

    def azure_call() -> None:
        with openai.AzureOpenAI(
            azure_endpoint=sim.endpoint_url("azure"),
            api_version=API_VERSION,
            azure_deployment="missing",
            api_key=AZURE_KEY,
            max_retries=0,
        ) as client:
            client.chat.completions.create(model="missing", messages=MESSAGES)

    with pytest.raises(openai.NotFoundError) as azure_caught:
        await asyncio.to_thread(azure_call)
    assert azure_caught.value.code == "DeploymentNotFound"


async def test_rate_limit_raises_with_retry_after_reaching_the_client(sim: Simulator) -> None:
    sim.set_mode("openai", "rate_limited")
    async with async_openai(sim) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="gpt-4.1-nano", messages=MESSAGES, stream=True
            )
        retry_after = client._parse_retry_after_header(caught.value.response.headers)

    assert caught.value.response.headers["retry-after"] == "2"
    assert retry_after == 2.0
    assert caught.value.request_id == caught.value.response.headers["x-request-id"]


async def test_azure_rate_limit_gives_retry_after_ms_to_the_client(sim: Simulator) -> None:
    sim.set_mode("azure", "rate_limited")

    def call() -> float | None:
        with azure_client(sim, api_key=AZURE_KEY) as client:
            try:
                client.chat.completions.create(model=DEPLOYMENT, messages=MESSAGES)
            except openai.RateLimitError as error:
                return client._parse_retry_after_header(error.response.headers)
        return None

    assert await asyncio.to_thread(call) == 2.0


async def test_server_error_raises_internal_server_error(sim: Simulator) -> None:
    sim.set_mode("openai", "server_error")
    async with async_openai(sim) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="gpt-4.1-nano", messages=MESSAGES)

    assert caught.value.status_code == 500


async def test_bad_request_raises_bad_request_error(sim: Simulator) -> None:
    sim.set_mode("openai", "bad_request")
    async with async_openai(sim) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="gpt-4.1-nano", messages=MESSAGES)

    assert caught.value.code == "unsupported_parameter"


async def test_mid_stream_error_raises_api_error_after_some_content(sim: Simulator) -> None:
    sim.set_mode("openai", "mid_stream_error")
    parts: list[str] = []
    async with async_openai(sim) as client:
        stream = await client.chat.completions.create(
            model="gpt-4.1-nano", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APIError) as caught:
            await collect_text(stream, parts)

    assert type(caught.value) is openai.APIError
    assert caught.value.type == "server_error"
    assert "".join(parts) == "1 2 3 4 5 6 "


async def test_azure_mid_stream_error_raises_api_error(sim: Simulator) -> None:
    sim.set_mode("azure", "mid_stream_error")

    def call() -> None:
        with azure_client(sim, api_key=AZURE_KEY) as client:
            for _ in client.chat.completions.create(
                model=DEPLOYMENT, messages=MESSAGES, stream=True
            ):
                pass

    with pytest.raises(openai.APIError, match="The server had an error"):
        await asyncio.to_thread(call)


async def test_truncated_stream_raises_a_connection_error(sim: Simulator) -> None:
    sim.set_mode("openai", "truncated")
    async with async_openai(sim) as client:
        stream = await client.chat.completions.create(
            model="gpt-4.1-nano", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APIConnectionError):
            async for _ in stream:
                pass
