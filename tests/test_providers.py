"""What each provider sends: URL, credential header and body."""

from __future__ import annotations

import json

import pytest

from monitor.config import Endpoint, parse_config
from monitor.probing.providers import PROVIDERS, probe_prompt

CONFIG = """
models: [{id: gpt-4.1-nano}]
endpoints:
  - {id: openai, model: gpt-4.1-nano, provider: openai, base_url: "https://api.openai.com/v1",
     api_key_env: K}
  - {id: responses, model: gpt-4.1-nano, provider: openai, base_url: "https://api.openai.com/v1",
     api_key_env: K, api: responses, temperature: 0}
  - {id: azure, model: gpt-4.1-nano, provider: azure, base_url: "https://r.openai.azure.com/",
     deployment: "nano dep", api_key_env: K}
  - {id: azure-old, model: gpt-4.1-nano, provider: azure, base_url: "https://r.openai.azure.com",
     deployment: nano, api_version: "2024-06-01", api_key_env: K}
  - {id: azure-v1, model: gpt-4.1-nano, provider: azure,
     base_url: "https://r.openai.azure.com/openai/v1", api_version: v1, request_model: nano,
     auth: entra_id}
  - {id: gateway, model: gpt-4.1-nano, provider: openai_compatible,
     base_url: "http://127.0.0.1:8000/v1", request_model: openai/gpt-4.1-nano, stream_usage: false}
"""


def _endpoints() -> dict[str, Endpoint]:
    return {e.id: e for e in parse_config(CONFIG, environ={"K": "secret"}).endpoints}


def _build(
    endpoint: Endpoint, credential: str | None = "secret"
) -> tuple[str, dict[str, str], dict[str, object]]:
    request = PROVIDERS[endpoint.provider].build_request(
        endpoint, prompt="hello", probe_id="abc123", credential=credential
    )
    return request.url, request.headers, json.loads(request.body)


def test_openai_chat_request() -> None:
    url, headers, body = _build(_endpoints()["openai"])
    assert url == "https://api.openai.com/v1/chat/completions"
    assert headers["authorization"] == "Bearer secret"
    assert headers["accept-encoding"] == "identity"
    assert body == {
        "model": "gpt-4.1-nano",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 96,
    }


def test_openai_responses_request() -> None:
    url, _headers, body = _build(_endpoints()["responses"])
    assert url == "https://api.openai.com/v1/responses"
    assert body == {
        "model": "gpt-4.1-nano",
        "input": "hello",
        "stream": True,
        "max_output_tokens": 96,
        "store": False,
        "temperature": 0,
    }


def test_azure_deployment_request_uses_api_key_and_version() -> None:
    url, headers, body = _build(_endpoints()["azure"])
    assert url == (
        "https://r.openai.azure.com/openai/deployments/nano%20dep/chat/completions"
        "?api-version=2024-10-21"
    )
    assert headers["api-key"] == "secret" and "authorization" not in headers
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 96


def test_old_azure_api_version_gets_no_stream_options_and_max_tokens() -> None:
    _url, _headers, body = _build(_endpoints()["azure-old"])
    assert "stream_options" not in body
    assert body["max_tokens"] == 96 and "max_completion_tokens" not in body


def test_azure_v1_with_entra_id_sends_a_bearer_token() -> None:
    url, headers, body = _build(_endpoints()["azure-v1"], credential="entra-token")
    assert url == "https://r.openai.azure.com/openai/v1/chat/completions"
    assert headers["authorization"] == "Bearer entra-token" and "api-key" not in headers
    assert body["model"] == "nano"


def test_keyless_gateway_sends_no_credential() -> None:
    url, headers, body = _build(_endpoints()["gateway"], credential=None)
    assert url == "http://127.0.0.1:8000/v1/chat/completions"
    assert "authorization" not in headers
    assert body["model"] == "openai/gpt-4.1-nano"
    assert "stream_options" not in body and body["max_tokens"] == 96


def test_openai_refuses_to_send_without_a_key() -> None:
    with pytest.raises(ValueError, match="no API key"):
        _build(_endpoints()["openai"], credential=None)


def test_every_probe_prompt_has_its_own_prefix() -> None:
    endpoint = _endpoints()["openai"]
    first = probe_prompt(endpoint, "1111aaaa2222bbbb")
    second = probe_prompt(endpoint, "3333cccc4444dddd")
    assert first != second
    assert first.endswith(endpoint.probe.prompt) and second.endswith(endpoint.probe.prompt)
    assert first.startswith("[probe 1111aaaa2222]")
