"""HTTP statuses, error bodies and retry-after headers to outcomes (docs/design.md#outcomes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from monitor.core.outcomes import Outcome
from monitor.probing.classify import (
    MAX_ERROR_CHARS,
    http_error_text,
    outcome_for_status,
    parse_error_body,
    parse_go_duration,
    parse_retry_after,
    request_id,
    short_error,
)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, None, Outcome.RATE_LIMITED),
        (401, "invalid_api_key", Outcome.AUTH_ERROR),
        (403, None, Outcome.AUTH_ERROR),
        (404, "DeploymentNotFound", Outcome.NOT_FOUND),
        (404, "model_not_found", Outcome.NOT_FOUND),
        (400, "DeploymentNotFound", Outcome.NOT_FOUND),
        (400, "invalid_request_error", Outcome.BAD_REQUEST),
        (422, None, Outcome.BAD_REQUEST),
        (408, None, Outcome.TIMEOUT),
        (500, None, Outcome.SERVER_ERROR),
        (503, None, Outcome.SERVER_ERROR),
        (301, None, Outcome.PROTOCOL_ERROR),
    ],
)
def test_status_codes_map_to_outcomes(status: int, code: str | None, expected: Outcome) -> None:
    assert outcome_for_status(status, code) is expected


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            b'{"error":{"message":"Incorrect API key","type":"invalid_request_error",'
            b'"param":null,"code":"invalid_api_key"}}',
            "invalid_api_key",
            "Incorrect API key",
        ),
        (
            b'{"error":{"code":"DeploymentNotFound",'
            b'"message":"The API deployment does not exist."}}',
            "DeploymentNotFound",
            "The API deployment does not exist.",
        ),
        (
            b'{"error":{"code":"content_filter","message":"filtered",'
            b'"innererror":{"code":"ResponsibleAIPolicyViolation"}}}',
            "ResponsibleAIPolicyViolation",
            "filtered",
        ),
        (b"<html>Bad Gateway</html>", None, None),
        (b'{"detail": "x"}', None, None),
    ],
    ids=["openai", "azure", "azure-innererror", "html", "other-json"],
)
def test_error_bodies_give_code_and_message(
    body: bytes, code: str | None, message: str | None
) -> None:
    assert parse_error_body(body) == (code, message)


def test_retry_after_prefers_azure_milliseconds() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "2"}) == 1.5
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_retry_after_accepts_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    headers = {"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}
    assert parse_retry_after(headers, now) == pytest.approx(30.0)


def test_short_error_masks_secrets_and_key_like_tokens() -> None:
    text = "Incorrect API key provided: sk-proj-****abcd. Header was Bearer abc.def and KEY123"
    cleaned = short_error(text, secrets=["KEY123"])
    assert "sk-proj" not in cleaned and "abc.def" not in cleaned and "KEY123" not in cleaned
    assert cleaned.count("[redacted]") == 3


def test_short_error_is_one_bounded_line() -> None:
    cleaned = short_error("line one\nline two " + "x" * 1000)
    assert "\n" not in cleaned
    assert len(cleaned) == MAX_ERROR_CHARS


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-request-id": "req_abc", "apim-request-id": "a310d17f"}, "req_abc"),
        ({"apim-request-id": "a310d17f", "x-ms-client-request-id": "a310d17f"}, "a310d17f"),
        ({"x-ms-request-id": "ms-1", "x-litellm-call-id": "call-1"}, "ms-1"),
        ({"x-litellm-call-id": "5b8e8b7a-call", "x-litellm-model-id": "m1"}, "5b8e8b7a-call"),
        ({"X-Request-ID": "req_upper", "x-litellm-call-id": "call-1"}, "req_upper"),
        ({"x-request-id": " ", "x-litellm-call-id": "call-1"}, "call-1"),
        ({"x-portkey-trace-id": "trace-1"}, "trace-1"),
        ({"helicone-id": "h-1"}, "h-1"),
        ({"cf-aig-log-id": "01JADMCQQQBWH3NXZ5GCRN98DP", "cf-ray": "8a1b2c3d4e5f-AMS"},
         "01JADMCQQQBWH3NXZ5GCRN98DP"),
        ({"x-kong-request-id": "kong-1"}, "kong-1"),
        ({"x-amzn-RequestId": "amzn-1"}, "amzn-1"),
        ({"cf-ray": "8a1b2c3d4e5f-AMS", "x-ms-client-request-id": "mine"}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_the_request_id_is_the_providers_then_the_gateways_never_a_hop_id(
    headers: dict[str, str], expected: str | None
) -> None:
    assert request_id(httpx.Headers(headers)) == expected


def _error(message: str, code: str | None = None, kind: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


AZURE_429 = (
    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21"
    " have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after"
    " 60 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further"
    " increase the default rate limit."
)
OPENAI_TPM = (
    "Rate limit reached for gpt-4.1-nano in organization org-AbCdEf123456 on tokens per min"
    " (TPM): Limit 200000, Used 199542, Requested 1030. Please try again in 171ms."
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, _error("litellm.InternalServerError: InternalServerError: OpenAIException - "
                     "Connection error.", "500"),
         "HTTP 500: litellm.InternalServerError: OpenAIException - Connection error."),
        (500, _error("The server had an error while processing your request. Sorry about that!",
                     kind="server_error"),
         "HTTP 500 server_error: The server had an error while processing your request. Sorry"
         " about that!"),
        (429, _error(OPENAI_TPM + " Visit https://platform.openai.com/account/rate-limits to"
                     " learn more.", "rate_limit_exceeded", "tokens"),
         "HTTP 429 rate_limit_exceeded: " + OPENAI_TPM),
        (429, {"error": {"code": "429", "message": AZURE_429}},
         "HTTP 429: Requests to the ChatCompletions_Create Operation under Azure OpenAI API"
         " version 2024-10-21 have exceeded … limit of your current OpenAI S0 pricing tier."
         " Please retry after 60 seconds."),
        (429, _error("litellm.RateLimitError: RateLimitError: AzureException RateLimitError - "
                     "Error code: 429 - {'error': {'code': '429', 'message': '" + AZURE_429
                     + "'}}\nReceived Model Group=gpt-4o\nAvailable Model Group Fallbacks=None",
                     "429", "throttling_error"),
         "HTTP 429: litellm.RateLimitError: AzureException RateLimitError - Error code: 429 -"
         " {'error': {'code': '429', … limit of your current OpenAI S0 pricing tier. Please"
         " retry after 60 seconds."),
        (401, _error("Incorrect API key provided: sk-proj-****abcd. You can find your API key"
                     " at https://platform.openai.com/account/api-keys.", "invalid_api_key",
                     "invalid_request_error"),
         "HTTP 401 invalid_api_key: Incorrect API key provided: [redacted]. You can find your API"
         " key at https://platform.openai.com/account/api-keys."),
        (404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this"
                         " resource does not exist."}},
         "HTTP 404 DeploymentNotFound: The API deployment for this resource does not exist."),
        (502, {"error": {"code": "500", "message": "upstream failed"}},
         "HTTP 502 500: upstream failed"),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "HTTP 502"),
    ],
    ids=["litellm-500", "openai-500", "openai-429-tpm", "azure-429", "litellm-wrapped-azure-429",
         "openai-401", "azure-404", "gateway-502-with-upstream-code", "html-502"],
)  # fmt: skip
def test_error_texts_say_the_status_once_and_keep_what_informs(
    status: int, body: dict[str, Any] | str, expected: str
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    text = short_error(http_error_text(status, *parse_error_body(raw)))
    assert text == expected
    assert len(text) <= MAX_ERROR_CHARS


def test_a_long_error_keeps_its_start_and_its_end() -> None:
    text = short_error("HTTP 500: " + "word " * 100 + "the actual reason.")
    assert len(text) <= MAX_ERROR_CHARS
    assert text.startswith("HTTP 500: word word") and text.endswith("word the actual reason.")
    assert " … " in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0), ("20ms", 0.02), ("1.5s", 1.5), ("6m0s", 360.0), ("1m26.4s", 86.4),
        ("7m12s", 432.0), ("6h12m", 22_320.0), ("8h", 28_800.0), (".5s", 0.5), ("0s", 0.0),
        ("250us", 0.000_25), (" 2s ", 2.0),
        ("12", None), ("", None), ("s", None), ("1x", None), ("1s2", None), ("-1s", None),
        ("1 s", None),
    ],
)  # fmt: skip
def test_go_durations_as_openai_writes_them(text: str, seconds: float | None) -> None:
    assert parse_go_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


TPM = ("Rate limit reached for gpt-4.1-nano in organization org-x on tokens per min (TPM): Limit"
       " 200000, Used 199542, Requested 1030. Please try again in {}. Visit"
       " https://platform.openai.com/account/rate-limits to learn more.")  # fmt: skip
RESETS = {"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "1.5s"}


@pytest.mark.parametrize(
    ("headers", "message", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "2"}, TPM.format("9s"), 1.5),
        ({"retry-after": "2", **RESETS}, TPM.format("9s"), 2.0),
        ({}, TPM.format("1.146s"), 1.146),
        ({}, TPM.format("84ms"), 0.084),
        ({}, TPM.format("7m12s"), 432.0),
        (RESETS, TPM.format("6m0s"), 360.0),
        ({}, "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version"
             " 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier."
             " Please retry after 60 seconds.", 60.0),
        ({}, "Please retry after 1 second.", 1.0),
        (RESETS, None, 1.5),
        ({**RESETS, "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-remaining-tokens": "150000"}, None, 0.02),
        ({"x-ratelimit-reset-requests": "12"}, None, None),
        ({}, "Rate limit exceeded. Please try again later.", None),
        ({}, None, None),
    ],
    ids=["retry-after-ms", "retry-after", "message-s", "message-ms", "message-m-s",
         "message-before-resets", "azure-message", "azure-message-singular", "resets-longest",
         "reset-of-the-spent-bucket", "reset-without-unit", "message-without-wait", "nothing"],
)  # fmt: skip
def test_a_429s_wait_comes_from_headers_then_its_message_then_reset_headers(
    headers: dict[str, str], message: str | None, seconds: float | None
) -> None:
    found = parse_retry_after(httpx.Headers(headers), message=message)
    assert found == (pytest.approx(seconds) if seconds is not None else None)
