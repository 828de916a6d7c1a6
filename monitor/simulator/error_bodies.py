"""Error bodies of the injected failures (429, 400, 5xx, and the mid-stream error message).

Natural rejections (bad key, unknown deployment, invalid body) live in ``routes.py``; these are
the ones a behaviour forces. OpenAI bodies are its pretty-printed ``{"error": {...}}``; Azure
relays the same object compactly for backend errors and uses ``{"error":{"code","message"}}``
for its own (rate limits, unavailability).
"""

from __future__ import annotations

import json

from monitor.simulator.wire import azure_error_body, openai_error_body

STREAM_ERROR = "The server had an error while processing your request. Sorry about that!"


def _compact(error: dict[str, object]) -> bytes:
    return json.dumps({"error": error}, separators=(",", ":")).encode()


def rate_limited_body(*, azure: bool, model: str, wait: float) -> bytes:
    """The 429 body: OpenAI's ``rate_limit_exceeded`` or Azure's quota message."""
    if azure:
        message = (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
            "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
            f"Please retry after {max(1, round(wait))} seconds. Please go here: "
            "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
            "rate limit."
        )
        return azure_error_body("429", message)
    message = (
        f"Rate limit reached for {model} in organization org-simulator on requests per min "
        f"(RPM): Limit 500, Used 500, Requested 1. Please try again in {wait:g}s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more."
    )
    return openai_error_body(message, "requests", code="rate_limit_exceeded")


def bad_request_body(*, azure: bool) -> bytes:
    """A 400 ``unsupported_parameter`` error (Azure relays OpenAI's object, compact)."""
    message = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead."
    )
    if azure:
        error: dict[str, object] = {
            "message": message,
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "unsupported_parameter",
        }
        return _compact(error)
    return openai_error_body(
        message, "invalid_request_error", param="max_tokens", code="unsupported_parameter"
    )


def server_error_body(*, azure: bool, status: int, request_id: str) -> bytes:
    """The 500 / 502 / 503 body of each flavor."""
    if azure:
        if status == 500:
            message = (
                "The server had an error while processing your request. Sorry about that! You "
                "can retry your request, or contact us through an Azure support request at: "
                "https://go.microsoft.com/fwlink/?linkid=2213926 if the error persists. (Please "
                f"include the request ID {request_id} in your message.)"
            )
            return _compact(
                {"message": message, "type": "server_error", "param": None, "code": None}
            )
        if status == 502:
            return azure_error_body("BadGateway", "Bad gateway.")
        return azure_error_body(
            "ServiceUnavailable",
            "The service is temporarily unable to process your request. Please try again later.",
        )
    if status == 502:
        # Cloudflare's own 502 in front of the API: different key order, numeric code.
        return _compact(
            {"code": 502, "message": "Bad gateway.", "param": None, "type": "cf_bad_gateway"}
        )
    if status == 503:
        return openai_error_body(
            "The engine is currently overloaded, please try again later", "server_error"
        )
    return openai_error_body(STREAM_ERROR, "server_error")
