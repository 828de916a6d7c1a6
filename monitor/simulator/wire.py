"""Byte-exact bodies of OpenAI and Azure OpenAI responses: SSE chunks, JSON bodies, error bodies.

Shapes follow captured traffic (sources in ``monitor/simulator/README.md``):

- OpenAI chat chunks keep the service's key order (``id, object, created, model, service_tier,
  system_fingerprint, choices, usage, obfuscation``); ``usage: null`` appears on every chunk only
  when ``stream_options.include_usage`` was requested, and the usage chunk has ``choices: []``.
- Azure OpenAI serializes with alphabetically sorted keys, starts with a ``choices: []`` chunk
  carrying ``prompt_filter_results`` (whose inner objects keep ``prompt_index`` first) and puts
  ``content_filter_results`` on every choice.
- Responses API events are ``event: <type>`` + ``data:`` with ``type`` first, the other keys
  sorted, a ``sequence_number`` from 0, and no ``[DONE]``.
- OpenAI error bodies are pretty-printed with two spaces and a trailing newline; Azure's own
  (APIM) errors are compact ``{"error":{"code":...,"message":...}}`` without a newline.

Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import json
from collections.abc import Callable

DONE = b"data: [DONE]\n\n"
PING = b": ping\n\n"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_sorted_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode

_SAFE = {"filtered": False, "severity": "safe"}
#: Azure's per-choice verdict on a generated chunk: the four harm categories, all safe.
AZURE_CONTENT_SAFE: dict[str, object] = {
    "hate": _SAFE,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
#: The verdict that stops a completion with ``finish_reason: content_filter``.
AZURE_CONTENT_FILTERED: dict[str, object] = {
    "hate": _SAFE,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": {"filtered": True, "severity": "medium"},
}
_AZURE_PROMPT_SAFE: dict[str, object] = {
    "hate": _SAFE,
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}


def sse(data: bytes) -> bytes:
    """One ``data:`` event."""
    return b"data: " + data + b"\n\n"


def sse_event(event: str, data: bytes) -> bytes:
    """One named event (``event:`` line, then ``data:``)."""
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def openai_usage(
    prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0
) -> dict[str, object]:
    """A chat ``usage`` object in OpenAI's key order (``completion_tokens`` counts the
    reasoning ones too)."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class ChatChunks:
    """The ``chat.completion.chunk`` events of one streamed chat completion."""

    def __init__(
        self,
        *,
        azure: bool,
        completion_id: str,
        created: int,
        model: str,
        system_fingerprint: str | None,
        include_usage: bool,
        obfuscation: Callable[[], str] | None,
        filter_results: bool = True,
    ) -> None:
        self._azure = azure
        self._filters = filter_results
        self._include_usage = include_usage
        self._obfuscation = obfuscation
        fingerprint = _dumps(system_fingerprint).encode()
        cid = _dumps(completion_id).encode()
        mdl = _dumps(model).encode()
        if azure:
            # Keys after "choices" in sorted order; "obfuscation" sorts between model and object.
            self._tail_a = b'],"created":%d,"id":%s,"model":%s' % (created, cid, mdl)
            self._tail_b = b',"object":"chat.completion.chunk","system_fingerprint":' + fingerprint
        else:
            self._head = (
                b'{"id":%s,"object":"chat.completion.chunk","created":%d,"model":%s,'
                b'"service_tier":"default","system_fingerprint":%s,"choices":['
            ) % (cid, created, mdl, fingerprint)
            self._content_head = self._head + b'{"index":0,"delta":{"content":'
            self._content_tail = b'},"logprobs":null,"finish_reason":null}]' + (
                b',"usage":null' if include_usage else b""
            )

    def _wrap(self, choices: bytes, usage: bytes | None = None) -> bytes:
        obf = self._obfuscation
        if self._azure:
            out = b'{"choices":[' + choices + self._tail_a
            if obf is not None:
                out += b',"obfuscation":"' + obf().encode() + b'"'
            out += self._tail_b
            if usage is not None:
                out += b',"usage":' + usage
            elif self._include_usage:
                out += b',"usage":null'
            return b"data: " + out + b"}\n\n"
        out = self._head + choices + b"]"
        if usage is not None:
            out += b',"usage":' + usage
        elif self._include_usage:
            out += b',"usage":null'
        if obf is not None:
            out += b',"obfuscation":"' + obf().encode() + b'"'
        return b"data: " + out + b"}\n\n"

    def _choice(self, delta: bytes, finish_reason: str | None, filters: bytes) -> bytes:
        reason = b"null" if finish_reason is None else b'"' + finish_reason.encode() + b'"'
        if self._azure:
            annotation = b'"content_filter_results":' + filters + b"," if self._filters else b""
            return (
                b"{"
                + annotation
                + b'"delta":'
                + delta
                + b',"finish_reason":'
                + reason
                + b',"index":0,"logprobs":null}'
            )
        return b'{"index":0,"delta":' + delta + b',"logprobs":null,"finish_reason":' + reason + b"}"

    def prompt_filter(self) -> bytes:
        """Azure's first event: prompt verdicts, empty ``choices`` and empty identity fields."""
        return sse(
            b'{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
            + _AZURE_PROMPT_RESULTS
            + b"}"
        )

    def role(self) -> bytes:
        """The role-only chunk (``content: ""``) that opens every completion."""
        if self._azure:
            delta = b'{"content":"","refusal":null,"role":"assistant"}'
        else:
            delta = b'{"role":"assistant","content":"","refusal":null}'
        return self._wrap(self._choice(delta, None, b"{}"))

    def content(self, text: str) -> bytes:
        """A chunk carrying generated text."""
        return self.content_json(_dumps(text).encode())

    def content_json(self, text_json: bytes) -> bytes:
        """A content chunk from already JSON-encoded text (the hot path of every stream)."""
        if self._azure:
            delta = b'{"content":' + text_json + b"}"
            return self._wrap(self._choice(delta, None, _AZURE_SAFE_BYTES))
        out = self._content_head + text_json + self._content_tail
        if self._obfuscation is not None:
            out += b',"obfuscation":"' + self._obfuscation().encode() + b'"'
        return b"data: " + out + b"}\n\n"

    def finish(self, finish_reason: str) -> bytes:
        """The chunk with an empty delta and the finish reason."""
        filters = _AZURE_FILTERED_BYTES if finish_reason == "content_filter" else b"{}"
        return self._wrap(self._choice(b"{}", finish_reason, filters))

    def reasoning_json(self, text_json: bytes, field: str) -> bytes:
        """A chunk of streamed reasoning, as DeepSeek and vLLM (``reasoning_content``) or
        OpenRouter (``reasoning``) send it: the text under ``field``, ``content`` null."""
        delta = b'{"content":null,"%s":%s}' % (field.encode(), text_json)
        return self._wrap(self._choice(delta, None, b"{}"))

    def usage(self, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0) -> bytes:
        """The ``choices: []`` chunk with token usage (sent when include_usage was asked)."""
        usage = openai_usage(prompt_tokens, completion_tokens, reasoning_tokens)
        encoded = (_sorted_dumps if self._azure else _dumps)(usage).encode()
        return self._wrap(b"", encoded)

    def malformed(self, text: str) -> bytes:
        """A content chunk cut in the middle of its JSON (the object never closes)."""
        whole = self.content(text)
        return whole[: max(8, len(whole) // 2)] + b"\n\n"


# Azure sorts top-level keys, but the filter verdicts keep their own order ("filtered" before
# "detected", "prompt_index" before "content_filter_results"), as captured.
_AZURE_SAFE_BYTES = _dumps(AZURE_CONTENT_SAFE).encode()
_AZURE_FILTERED_BYTES = _dumps(AZURE_CONTENT_FILTERED).encode()
_AZURE_PROMPT_RESULTS = _dumps(
    [{"prompt_index": 0, "content_filter_results": _AZURE_PROMPT_SAFE}]
).encode()


def stream_error_event(message: str) -> bytes:
    """The ``{"error": ...}`` event a chat stream carries when generation fails after the 200."""
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return sse(_dumps(body).encode())


def chat_completion_body(
    *,
    azure: bool,
    completion_id: str,
    created: int,
    model: str,
    system_fingerprint: str | None,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    reasoning_tokens: int = 0,
    reasoning: tuple[str, str] | None = None,
) -> bytes:
    """A non-streamed ``chat.completion`` (OpenAI pretty-prints it; Azure sorts and compacts).

    ``reasoning`` is (field, text): the message's reasoning as DeepSeek and vLLM
    (``reasoning_content``) or OpenRouter (``reasoning``) return it beside the content."""
    message: dict[str, object] = {"role": "assistant", "content": text}
    if reasoning is not None:
        message[reasoning[0]] = reasoning[1]
    message.update({"refusal": None, "annotations": []})
    choice: dict[str, object] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason,
    }
    body: dict[str, object] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": openai_usage(prompt_tokens, completion_tokens, reasoning_tokens),
        "service_tier": "default",
        "system_fingerprint": system_fingerprint,
    }
    if azure:
        filters = _AZURE_FILTERED_BYTES if finish_reason == "content_filter" else _AZURE_SAFE_BYTES
        sorted_choice = (
            b'{"content_filter_results":'
            + filters
            + b',"finish_reason":'
            + _dumps(finish_reason).encode()
            + b',"index":0,"logprobs":null,"message":'
            + _sorted_dumps(message).encode()
            + b"}"
        )
        return (
            b'{"choices":[' + sorted_choice + b'],"created":%d,"id":%s,"model":%s,'
            b'"object":"chat.completion","prompt_filter_results":%s,"system_fingerprint":%s,'
            b'"usage":%s}'
        ) % (
            created,
            _dumps(completion_id).encode(),
            _dumps(model).encode(),
            _AZURE_PROMPT_RESULTS,
            _dumps(system_fingerprint).encode(),
            _sorted_dumps(
                openai_usage(prompt_tokens, completion_tokens, reasoning_tokens)
            ).encode(),
        )
    return json.dumps(body, indent=2, ensure_ascii=False).encode() + b"\n"


def openai_error_body(
    message: str,
    error_type: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int | None = None,
) -> bytes:
    """An OpenAI error body; with ``status`` it takes the 401 shape (``code`` before ``param``)."""
    error: dict[str, object]
    if status is None:
        error = {"message": message, "type": error_type, "param": param, "code": code}
        body: dict[str, object] = {"error": error}
    else:
        error = {"message": message, "type": error_type, "code": code, "param": param}
        body = {"error": error, "status": status}
    return json.dumps(body, indent=2, ensure_ascii=False).encode() + b"\n"


def azure_error_body(code: str, message: str, *, space_after_message: bool = False) -> bytes:
    """An Azure API-management error; some of them have a space after ``"message":``."""
    sep = b'","message": ' if space_after_message else b'","message":'
    return b'{"error":{"code":"' + code.encode() + sep + _dumps(message).encode() + b"}}"


def compact(value: object) -> bytes:
    """Compact JSON in insertion order (used for Responses API and admin bodies)."""
    return _dumps(value).encode()


def pretty(value: object) -> bytes:
    """Two-space indented JSON with a trailing newline, as OpenAI sends non-streamed bodies."""
    return json.dumps(value, indent=2, ensure_ascii=False).encode() + b"\n"


#: What a captive portal or a misrouted proxy answers with a 200 instead of an event stream.
NOT_SSE_HTML = (
    b"<!DOCTYPE html>\n<html>\n<head><title>Sign in to continue</title></head>\n<body>\n"
    b"<h1>Network access requires sign-in</h1>\n"
    b"<p>Please sign in to continue to the requested page.</p>\n</body>\n</html>\n"
)
