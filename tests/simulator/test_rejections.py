"""Requests the real services refuse: bad keys, unknown models and deployments, bad bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.simulator import Simulator

from .helpers import (
    AZURE_KEY,
    DEPLOYMENT,
    ENTRA_TOKEN,
    azure_path,
    chat_body,
    openai_headers,
    raw_request,
)


def error_of(body: bytes) -> dict[str, Any]:
    error = json.loads(body)["error"]
    assert isinstance(error, dict)
    return error


async def test_openai_wrong_key_is_401_invalid_api_key_with_a_masked_key(sim: Simulator) -> None:
    response = await raw_request(
        sim.port,
        "POST",
        "/openai/v1/chat/completions",
        {"Authorization": "Bearer sk-wrong-key-1234567890"},
        chat_body(),
    )
    body = json.loads(response.body)

    assert response.status_line == "HTTP/1.1 401 Unauthorized"
    assert response.header("content-type") == "application/json"
    assert body["status"] == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert body["error"]["message"].startswith("Incorrect API key provided: sk-wrong**")
    assert "7890. You can find your API key" in body["error"]["message"]
    assert "sk-wrong-key-1234567890" not in body["error"]["message"]
    truth = sim.truth(response.header("x-request-id") or "")
    assert truth is not None
    assert (truth.status, truth.error_code, truth.behaviour) == (401, "invalid_api_key", None)


async def test_openai_missing_key_is_401(sim: Simulator) -> None:
    response = await raw_request(sim.port, "POST", "/openai/v1/chat/completions", {}, chat_body())

    assert response.status == 401
    assert error_of(response.body)["message"].startswith("You didn't provide an API key.")


async def test_openai_unknown_model_is_404_model_not_found(sim: Simulator) -> None:
    response = await raw_request(
        sim.port,
        "POST",
        "/openai/v1/chat/completions",
        openai_headers(),
        chat_body(model="gpt-5-imaginary"),
    )

    assert response.status == 404
    assert error_of(response.body) == {
        "message": "The model `gpt-5-imaginary` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


async def test_openai_unknown_path_is_404_invalid_url(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", "/openai/v1/completions", openai_headers(), chat_body()
    )

    assert response.status == 404
    assert error_of(response.body)["message"] == "Invalid URL (POST /openai/v1/completions)"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, None),
        ({"model": "gpt-4.1-nano"}, "messages", "missing_required_parameter"),
        ({"model": "gpt-4.1-nano", "messages": []}, "messages", "empty_array"),
        (chat_body(stream="yes"), "stream", "invalid_type"),
        (chat_body(max_tokens=0), "max_tokens", "integer_below_min_value"),
        (chat_body(max_completion_tokens="5"), "max_completion_tokens", "invalid_type"),
        (
            {
                "model": "gpt-4.1-nano",
                "messages": [{"role": "user", "content": "x"}],
                "stream_options": {"include_usage": True},
            },
            "stream_options",
            None,
        ),
    ],
)
async def test_invalid_chat_bodies_are_400_invalid_request_error(
    sim: Simulator, body: Any, param: str | None, code: str | None
) -> None:
    response = await raw_request(
        sim.port, "POST", "/openai/v1/chat/completions", openai_headers(), body
    )
    error = error_of(response.body)

    assert response.status == 400
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


async def test_max_output_tokens_below_16_is_400(sim: Simulator) -> None:
    response = await raw_request(
        sim.port,
        "POST",
        "/openai/v1/responses",
        openai_headers(),
        {"model": "gpt-4.1-nano", "input": "hi", "max_output_tokens": 5},
    )

    assert response.status == 400
    assert error_of(response.body)["message"] == (
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
        "but got 5 instead."
    )


async def test_azure_wrong_key_is_the_apim_401_with_only_its_request_id(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", azure_path(), {"api-key": "not-the-key"}, chat_body()
    )

    assert response.status_line == "HTTP/1.1 401 Unauthorized"
    assert response.header("content-length") == "224"
    assert error_of(response.body)["code"] == "401"
    assert response.header("x-request-id") is None
    truth = sim.truth(response.header("apim-request-id") or "")
    assert truth is not None
    assert truth.status == 401


async def test_azure_missing_key_is_401(sim: Simulator) -> None:
    response = await raw_request(sim.port, "POST", azure_path(), {}, chat_body())

    assert response.status == 401
    assert "missing subscription key" in error_of(response.body)["message"]


async def test_azure_unknown_bearer_token_is_401_and_a_listed_one_passes(sim: Simulator) -> None:
    bad = await raw_request(
        sim.port, "POST", azure_path(), {"Authorization": "Bearer nope"}, chat_body()
    )
    good = await raw_request(
        sim.port, "POST", azure_path(), {"Authorization": f"Bearer {ENTRA_TOKEN}"}, chat_body()
    )

    assert bad.status == 401
    assert error_of(bad.body)["message"].startswith("Unauthorized. Access token is missing")
    assert good.status == 200


async def test_azure_unknown_deployment_is_404_deployment_not_found(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", azure_path(deployment="gpt-99"), {"api-key": AZURE_KEY}, chat_body()
    )

    assert response.status == 404
    assert error_of(response.body)["code"] == "DeploymentNotFound"
    assert response.header("x-request-id") is not None


async def test_azure_missing_api_version_is_404_resource_not_found(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", azure_path(version=None), {"api-key": AZURE_KEY}, chat_body()
    )

    assert response.status == 404
    assert response.body == b'{"error":{"code":"404","message": "Resource not found"}}'


async def test_azure_unsupported_api_version_is_400(sim: Simulator) -> None:
    response = await raw_request(
        sim.port, "POST", azure_path(version="2031-01-01"), {"api-key": AZURE_KEY}, chat_body()
    )

    assert response.status == 400
    assert response.body == b'{"error":{"code":"BadRequest","message":"API version not supported"}}'


async def test_azure_v1_path_takes_the_deployment_from_the_body(sim: Simulator) -> None:
    good = await raw_request(
        sim.port,
        "POST",
        "/azure/openai/v1/chat/completions",
        {"api-key": AZURE_KEY},
        chat_body(model=DEPLOYMENT),
    )
    unknown = await raw_request(
        sim.port,
        "POST",
        "/azure/openai/v1/chat/completions",
        {"api-key": AZURE_KEY},
        chat_body(model="gpt-4.1-nano"),
    )
    dated = await raw_request(
        sim.port,
        "POST",
        "/azure/openai/v1/chat/completions?api-version=2024-10-21",
        {"api-key": AZURE_KEY},
        chat_body(model=DEPLOYMENT),
    )

    assert good.status == 200
    assert unknown.status == 404
    assert error_of(unknown.body)["code"] == "DeploymentNotFound"
    assert dated.status == 400


async def test_unknown_endpoint_prefix_is_404(sim: Simulator) -> None:
    response = await raw_request(sim.port, "POST", "/nowhere/v1/chat/completions", {}, chat_body())

    assert response.status == 404
    assert error_of(response.body)["code"] == "unknown_endpoint"


async def test_unparseable_request_gets_400_and_the_connection_closes(sim: Simulator) -> None:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(b"HELLO\r\n\r\n")
    data = await reader.read()
    writer.close()
    await writer.wait_closed()

    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
