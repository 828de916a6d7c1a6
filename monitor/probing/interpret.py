"""Reading the meaning of a completion stream's events, with their arrival times (pure).

An interpreter is fed each SSE event with the monotonic time its last byte arrived, and keeps
what the measurement needs: when the first and last *content* chunks came (docs/design.md#ttft:
non-empty text, reasoning or tool calls; never a role-only or filter-results chunk), when the
first *answer* chunk came (docs/design.md#answer-ttft: content but reasoning), how many
there were, the usage, the finish reason and how the stream ended. It never raises on what a
server sends: a problem is recorded as a ``failure`` with its outcome.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.core.outcomes import Outcome
from monitor.probing.classify import error_fields
from monitor.probing.sse import SSEEvent

#: Characters of answer text kept for a token estimate when the stream carries no usage.
MAX_TEXT_CHARS = 64_000


@dataclass(slots=True)
class StreamState:
    """What an interpreter has learnt of one stream so far."""

    first_content_ns: int | None = None
    #: The first content chunk that is not reasoning (docs/design.md#answer-ttft).
    first_answer_ns: int | None = None
    last_content_ns: int | None = None
    last_event_ns: int | None = None
    content_chunks: int = 0
    #: Content chunks that arrived in the first one's read (the same stamp), first included.
    first_read_chunks: int = 0
    reasoning_chunks: int = 0
    text_parts: list[str] = field(default_factory=list)
    text_chars: int = 0
    output_tokens: int | None = None
    input_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_input_tokens: int | None = None
    finish_reason: str | None = None
    response_model: str | None = None
    finished: bool = False
    failure: tuple[Outcome, str] | None = None
    #: The stream ended in the middle of an event: its data, left without the blank line that
    #: ends an event, is not even whole JSON (the event was discarded, as WHATWG does).
    cut_mid_event: bool = False
    #: What ends a stream of this API well, for the error text of a stream that lacks it.
    terminal: str = "[DONE] or a finish_reason"

    @property
    def text(self) -> str:
        """The answer text received (up to MAX_TEXT_CHARS)."""
        return "".join(self.text_parts)

    def content(self, at_ns: int, text: str, *, reasoning: bool = False) -> None:
        """Count one content chunk that arrived at ``at_ns``."""
        if self.first_content_ns is None:
            self.first_content_ns = at_ns
            self.first_read_chunks = 1
        elif at_ns == self.first_content_ns and self.first_read_chunks == self.content_chunks:
            self.first_read_chunks += 1
        if not reasoning and self.first_answer_ns is None:
            self.first_answer_ns = at_ns
        self.last_content_ns = at_ns
        self.content_chunks += 1
        if reasoning:
            self.reasoning_chunks += 1
        if text and self.text_chars < MAX_TEXT_CHARS:
            self.text_parts.append(text)
            self.text_chars += len(text)

    def fail(self, outcome: Outcome, message: str) -> None:
        """Record the first problem and end the stream."""
        if self.failure is None:
            self.failure = (outcome, message)
        self.finished = True

    def end_outcome(self) -> tuple[Outcome, str | None]:
        """The outcome of a stream that has stopped (finished or cut), with an error text."""
        if self.failure is not None:
            return self.failure
        if not self.finished and self.finish_reason is None:
            if self.cut_mid_event:
                return Outcome.STREAM_ERROR, (
                    "the stream was cut off mid-event (its last event's JSON is incomplete),"
                    f" without {self.terminal}"
                )
            return Outcome.STREAM_ERROR, f"the stream ended without {self.terminal}"
        if self.finish_reason == "content_filter":
            return Outcome.CONTENT_FILTER, "the answer was stopped by a content filter"
        if self.content_chunks == 0:
            return Outcome.EMPTY_RESPONSE, "the stream finished without any content"
        return Outcome.SUCCESS, None


class StreamInterpreter(Protocol):
    """Reads one API's stream events."""

    state: StreamState

    def feed(self, event: SSEEvent, at_ns: int, *, unterminated: bool = False) -> None:
        """Take one event that arrived at ``at_ns``; sets ``state.finished`` at the end.

        ``unterminated`` marks the event the stream ended before its blank line (what
        ``SSEDecoder.close()`` returns): kept if it is whole, discarded as the remains of a cut
        connection if its JSON is incomplete.
        """


def _error_text(error: object, default: str) -> str:
    code, message = error_fields(error)
    parts = [part for part in (code, message) if part]
    return ": ".join(parts) if parts else default


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _JSONEvents:
    """What both APIs share: ``[DONE]`` marks the end of the stream, and every other event
    must be a JSON object."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = StreamState()

    def feed(self, event: SSEEvent, at_ns: int, *, unterminated: bool = False) -> None:
        """Take one event that arrived at ``at_ns`` (see StreamInterpreter)."""
        state = self.state
        if event.data == "[DONE]":
            state.last_event_ns = at_ns
            self._done()
            return
        try:
            data = json.loads(event.data)
        except ValueError:
            if unterminated:
                # The connection ended inside this event: the server did not speak a wrong
                # protocol, the stream broke. Like WHATWG, drop the event; the stream is then
                # judged by what came before it (end_outcome).
                state.cut_mid_event = True
                return
            state.last_event_ns = at_ns
            state.fail(Outcome.PROTOCOL_ERROR, f"malformed JSON in a {event.event!r} event")
            return
        state.last_event_ns = at_ns
        if not isinstance(data, dict):
            state.fail(Outcome.PROTOCOL_ERROR, "an event's data is not a JSON object")
            return
        self._take(event, data, at_ns)

    def _done(self) -> None:
        self.state.finished = True

    def _take(self, event: SSEEvent, data: dict[str, Any], at_ns: int) -> None:
        raise NotImplementedError


class ChatCompletionsInterpreter(_JSONEvents):
    """Chat Completions streams (OpenAI, Azure OpenAI and compatible servers)."""

    __slots__ = ()

    def _take(self, event: SSEEvent, data: dict[str, Any], at_ns: int) -> None:
        state = self.state
        error = data.get("error")
        if error or event.event == "error":
            state.fail(
                Outcome.STREAM_ERROR, _error_text(error or data, "an error event in the stream")
            )
            return
        model = data.get("model")
        if model and isinstance(model, str):
            state.response_model = model
        choices = data.get("choices")
        texts: list[str] = []
        visible = reasoning = False
        if isinstance(choices, list):
            for choice in choices:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    text = delta.get("content")
                    if isinstance(text, str) and text:
                        texts.append(text)
                        visible = True
                    refusal = delta.get("refusal")
                    if isinstance(refusal, str) and refusal:
                        visible = True  # an answer, though not the one asked for
                    thought = delta.get("reasoning_content") or delta.get("reasoning")
                    if isinstance(thought, str) and thought:
                        reasoning = True
                    if delta.get("tool_calls"):
                        visible = True
                finish = choice.get("finish_reason")
                if isinstance(finish, str) and finish:
                    # A later chunk may say null again; the first real reason is kept.
                    state.finish_reason = finish
        if visible or reasoning:
            state.content(at_ns, "".join(texts), reasoning=not visible)
        usage = data.get("usage")
        if isinstance(usage, dict):
            state.output_tokens = _int(usage.get("completion_tokens"))
            state.input_tokens = _int(usage.get("prompt_tokens"))
            details = usage.get("completion_tokens_details")
            if isinstance(details, dict):
                state.reasoning_tokens = _int(details.get("reasoning_tokens"))
            prompt_details = usage.get("prompt_tokens_details")
            if isinstance(prompt_details, dict):
                state.cached_input_tokens = _int(prompt_details.get("cached_tokens"))


#: Responses API events whose ``delta`` is output the user sees (or reasoning, or a tool call).
_RESPONSES_TEXT = "response.output_text.delta"
_RESPONSES_OTHER_DELTAS = frozenset(
    {
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
    }
)


class ResponsesInterpreter(_JSONEvents):
    """Responses API streams (``POST /responses`` with ``stream: true``).

    Only a terminal event (``response.completed``, ``response.incomplete`` or
    ``response.failed``) ends such a stream well. OpenAI sends no ``[DONE]`` here, but gateways
    append one, also to a stream whose upstream was cut: ``[DONE]`` before a terminal event is
    a ``stream_error``.
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self.state.terminal = "a response.completed, response.incomplete or response.failed event"

    def _done(self) -> None:
        state = self.state
        if not state.finished:  # a terminal event already ended the stream: nothing to add
            state.fail(Outcome.STREAM_ERROR, f"the stream sent [DONE] without {state.terminal}")

    def _take(self, event: SSEEvent, data: dict[str, Any], at_ns: int) -> None:
        state = self.state
        kind = data.get("type") or event.event
        if kind == _RESPONSES_TEXT:
            delta = data.get("delta")
            if isinstance(delta, str) and delta:
                state.content(at_ns, delta)
        elif kind in _RESPONSES_OTHER_DELTAS:
            delta = data.get("delta")
            if isinstance(delta, str) and delta:
                state.content(at_ns, "", reasoning="reasoning" in str(kind))
        elif kind == "error":
            state.fail(Outcome.STREAM_ERROR, _error_text(data, "an error event in the stream"))
        elif kind in ("response.created", "response.in_progress"):
            self._response(data)
        elif kind == "response.completed":
            self._response(data)
            state.finish_reason = state.finish_reason or "stop"
            state.finished = True
        elif kind == "response.incomplete":
            response = self._response(data)
            details = response.get("incomplete_details") if response else None
            reason = details.get("reason") if isinstance(details, dict) else None
            state.finish_reason = "content_filter" if reason == "content_filter" else "length"
            state.finished = True
        elif kind == "response.failed":
            response = self._response(data) or {}
            state.fail(
                Outcome.STREAM_ERROR,
                _error_text(response.get("error"), "the response failed"),
            )

    def _response(self, data: dict[str, Any]) -> dict[str, Any] | None:
        response = data.get("response")
        if not isinstance(response, dict):
            return None
        state = self.state
        model = response.get("model")
        if model and isinstance(model, str):
            state.response_model = model
        usage = response.get("usage")
        if isinstance(usage, dict):
            state.output_tokens = _int(usage.get("output_tokens"))
            state.input_tokens = _int(usage.get("input_tokens"))
            details = usage.get("output_tokens_details")
            if isinstance(details, dict):
                state.reasoning_tokens = _int(details.get("reasoning_tokens"))
            input_details = usage.get("input_tokens_details")
            if isinstance(input_details, dict):
                state.cached_input_tokens = _int(input_details.get("cached_tokens"))
        return response
