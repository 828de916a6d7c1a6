"""Byte-exact Responses API (``POST /v1/responses``) bodies: the event stream and the JSON object.

Captured streams put ``type`` first and the remaining keys of each event in alphabetical order,
number events from ``sequence_number`` 0, pad text deltas with ``obfuscation`` and end with
``response.completed`` (or ``response.incomplete``) carrying the usage; there is no ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.simulator.wire import compact, pretty, sse_event


def responses_usage(
    input_tokens: int, output_tokens: int, reasoning_tokens: int = 0
) -> dict[str, object]:
    """The Responses API ``usage`` object (``output_tokens`` counts the reasoning ones too)."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


class ResponseEvents:
    """The events of one streamed response, numbered in the order they are built."""

    def __init__(
        self,
        *,
        response_id: str,
        message_id: str,
        created_at: int,
        model: str,
        max_output_tokens: int | None,
        obfuscation: Callable[[], str] | None,
        reasoning_id: str | None = None,
        summarised: bool = False,
    ) -> None:
        """``reasoning_id``: a reasoning item comes first (output 0, the message is output 1);
        ``summarised``: it streams a summary (else its summary stays empty, as an o-series
        model's does when none is asked for)."""
        self._reasoning_id = reasoning_id
        self._summarised = summarised and reasoning_id is not None
        self._reasoning_summary: str | None = None
        self._index = 0 if reasoning_id is None else 1
        self._response_id = response_id
        self._message_id = message_id
        self._created_at = created_at
        self._model = model
        self._max_output_tokens = max_output_tokens
        self._obfuscation = obfuscation
        self._sequence = 0
        self._message_id_json = compact(message_id)

    def _next(self) -> int:
        number = self._sequence
        self._sequence += 1
        return number

    def response_object(
        self,
        *,
        status: str,
        text: str | None,
        completed_at: int | None,
        incomplete_reason: str | None,
        usage: dict[str, object] | None,
        message: bool = True,
    ) -> dict[str, object]:
        """The ``response`` object as the events (and the non-streamed body) carry it; its
        output is the reasoning item (if any) and, unless ``message`` is false, the message."""
        output: list[object] = []
        if text is not None:
            if self._reasoning_id is not None:
                output.append(self._reasoning_item(self._reasoning_summary))
            if message:
                output.append(self._message(status, text))
        return {
            "id": self._response_id,
            "object": "response",
            "created_at": self._created_at,
            "status": status,
            "background": False,
            "completed_at": completed_at,
            "error": None,
            "incomplete_details": (
                None if incomplete_reason is None else {"reason": incomplete_reason}
            ),
            "instructions": None,
            "max_output_tokens": self._max_output_tokens,
            "max_tool_calls": None,
            "model": self._model,
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "prompt_cache_key": None,
            "prompt_cache_retention": None,
            "reasoning": {
                "effort": None if self._reasoning_id is None else "medium",
                "summary": "auto" if self._summarised else None,
            },
            "safety_identifier": None,
            "service_tier": "auto" if status == "in_progress" else "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
        }

    def _message(self, status: str, text: str) -> dict[str, object]:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        return {
            "id": self._message_id,
            "type": "message",
            "status": "completed" if status == "completed" else status,
            "content": [part],
            "role": "assistant",
        }

    def preamble(self) -> list[bytes]:
        """``response.created`` through ``response.content_part.added``: no text yet."""
        in_progress = compact(
            self.response_object(
                status="in_progress",
                text=None,
                completed_at=None,
                incomplete_reason=None,
                usage=None,
            )
        )
        created = b'{"type":"response.created","response":%s,"sequence_number":%d}' % (
            in_progress,
            self._next(),
        )
        progress = b'{"type":"response.in_progress","response":%s,"sequence_number":%d}' % (
            in_progress,
            self._next(),
        )
        opening = [
            sse_event("response.created", created),
            sse_event("response.in_progress", progress),
        ]
        if self._reasoning_id is not None:
            return opening + self._reasoning_opening()
        return opening + self.message_opening()

    def message_opening(self) -> list[bytes]:
        """``response.output_item.added`` (the message) and ``response.content_part.added``."""
        item = compact(
            {
                "id": self._message_id,
                "type": "message",
                "status": "in_progress",
                "content": [],
                "role": "assistant",
            }
        )
        added = (
            b'{"type":"response.output_item.added","item":%s,"output_index":%d,'
            b'"sequence_number":%d}' % (item, self._index, self._next())
        )
        part = (
            b'{"type":"response.content_part.added","content_index":0,"item_id":%s,'
            b'"output_index":%d,"part":{"type":"output_text","annotations":[],"logprobs":[],'
            b'"text":""},"sequence_number":%d}' % (self._message_id_json, self._index, self._next())
        )
        return [
            sse_event("response.output_item.added", added),
            sse_event("response.content_part.added", part),
        ]

    def _reasoning_item(self, summary: str | None) -> dict[str, object]:
        """The reasoning item: its summary once known (a hidden one has none)."""
        parts = [] if summary is None else [{"type": "summary_text", "text": summary}]
        return {"id": self._reasoning_id, "type": "reasoning", "summary": parts}

    def _reasoning_opening(self) -> list[bytes]:
        item = compact(self._reasoning_item(None))
        added = (
            b'{"type":"response.output_item.added","item":%s,"output_index":0,'
            b'"sequence_number":%d}' % (item, self._next())
        )
        opening = [sse_event("response.output_item.added", added)]
        if self._summarised:
            part = (
                b'{"type":"response.reasoning_summary_part.added","item_id":%s,"output_index":0,'
                b'"part":{"type":"summary_text","text":""},"sequence_number":%d,'
                b'"summary_index":0}' % (compact(self._reasoning_id), self._next())
            )
            opening.append(sse_event("response.reasoning_summary_part.added", part))
        return opening

    def reasoning_delta(self, text: str) -> bytes:
        """One ``response.reasoning_summary_text.delta``."""
        obf = b""
        if self._obfuscation is not None:
            obf = b'"obfuscation":"' + self._obfuscation().encode() + b'",'
        data = (
            b'{"type":"response.reasoning_summary_text.delta","delta":%s,"item_id":%s,%s'
            b'"output_index":0,"sequence_number":%d,"summary_index":0}'
            % (compact(text), compact(self._reasoning_id), obf, self._next())
        )
        return sse_event("response.reasoning_summary_text.delta", data)

    def reasoning_end(self, summary: str, *, then_message: bool = True) -> list[bytes]:
        """The end of the reasoning item (with a summary, ``summary`` whole), then the
        message's opening; without ``then_message`` the budget ran out while reasoning, and the
        summary part says it is ``incomplete``."""
        rid = compact(self._reasoning_id)
        events: list[bytes] = []
        if self._summarised:
            self._reasoning_summary = summary
            text = compact(summary)
            done = (
                b'{"type":"response.reasoning_summary_text.done","item_id":%s,"output_index":0,'
                b'"sequence_number":%d,"summary_index":0,"text":%s}' % (rid, self._next(), text)
            )
            status = b"" if then_message else b'"status":"incomplete",'
            part = (
                b'{"type":"response.reasoning_summary_part.done","item_id":%s,"output_index":0,'
                b'"part":{"type":"summary_text","text":%s},"sequence_number":%d,%s'
                b'"summary_index":0}' % (rid, text, self._next(), status)
            )
            events += [
                sse_event("response.reasoning_summary_text.done", done),
                sse_event("response.reasoning_summary_part.done", part),
            ]
        item = compact(self._reasoning_item(self._reasoning_summary))
        item_done = (
            b'{"type":"response.output_item.done","item":%s,"output_index":0,'
            b'"sequence_number":%d}' % (item, self._next())
        )
        events.append(sse_event("response.output_item.done", item_done))
        return events + (self.message_opening() if then_message else [])

    def delta(self, text: str) -> bytes:
        """One ``response.output_text.delta``."""
        obf = b""
        if self._obfuscation is not None:
            obf = b'"obfuscation":"' + self._obfuscation().encode() + b'",'
        data = (
            b'{"type":"response.output_text.delta","content_index":0,"delta":%s,"item_id":%s,'
            b'"logprobs":[],%s"output_index":%d,"sequence_number":%d}'
            % (compact(text), self._message_id_json, obf, self._index, self._next())
        )
        return sse_event("response.output_text.delta", data)

    def malformed_delta(self, text: str) -> bytes:
        """A delta event whose JSON stops half-way."""
        whole = self.delta(text)
        return whole[: max(40, len(whole) // 2)] + b"\n\n"

    def finish(
        self,
        text: str,
        *,
        input_tokens: int,
        output_tokens: int,
        incomplete_reason: str | None,
        reasoning_tokens: int = 0,
        message: bool = True,
    ) -> list[bytes]:
        """The closing events, ending in ``response.completed`` or ``response.incomplete``;
        without ``message`` (reasoning used up the budget before the answer began) only that
        last one."""
        status = "completed" if incomplete_reason is None else "incomplete"
        final = self.response_object(
            status=status,
            text=text,
            completed_at=self._created_at + 1 if incomplete_reason is None else None,
            incomplete_reason=incomplete_reason,
            usage=responses_usage(input_tokens, output_tokens, reasoning_tokens),
            message=message,
        )
        if not message:
            return [self._closing(status, final)]
        text_json = compact(text)
        done = (
            b'{"type":"response.output_text.done","content_index":0,"item_id":%s,'
            b'"logprobs":[],"output_index":%d,"sequence_number":%d,"text":%s}'
            % (self._message_id_json, self._index, self._next(), text_json)
        )
        part = (
            b'{"type":"response.content_part.done","content_index":0,"item_id":%s,'
            b'"output_index":%d,"part":{"type":"output_text","annotations":[],"logprobs":[],'
            b'"text":%s},"sequence_number":%d}'
            % (self._message_id_json, self._index, text_json, self._next())
        )
        item = compact(self._message(status, text))
        item_done = (
            b'{"type":"response.output_item.done","item":%s,"output_index":%d,'
            b'"sequence_number":%d}' % (item, self._index, self._next())
        )
        return [
            sse_event("response.output_text.done", done),
            sse_event("response.content_part.done", part),
            sse_event("response.output_item.done", item_done),
            self._closing(status, final),
        ]

    def _closing(self, status: str, final: dict[str, object]) -> bytes:
        """``response.completed`` or ``response.incomplete`` (numbered when built: last)."""
        event = f"response.{status}"
        data = b'{"type":"%s","response":%s,"sequence_number":%d}' % (
            event.encode(),
            compact(final),
            self._next(),
        )
        return sse_event(event, data)

    def error(self, message: str) -> bytes:
        """The ``error`` event a failing stream ends with."""
        data = (
            b'{"type":"error","code":"server_error","message":%s,"param":null,' % compact(message)
            + b'"sequence_number":%d}' % self._next()
        )
        return sse_event("error", data)

    def body(
        self,
        text: str,
        *,
        input_tokens: int,
        output_tokens: int,
        incomplete_reason: str | None,
        reasoning_tokens: int = 0,
        summary: str | None = None,
        message: bool = True,
    ) -> bytes:
        """The non-streamed response object (pretty-printed like every OpenAI JSON body), with
        the reasoning item's ``summary`` when it has one."""
        status = "completed" if incomplete_reason is None else "incomplete"
        if self._summarised:
            self._reasoning_summary = summary
        return pretty(
            self.response_object(
                status=status,
                text=text,
                completed_at=self._created_at + 1 if incomplete_reason is None else None,
                incomplete_reason=incomplete_reason,
                usage=responses_usage(input_tokens, output_tokens, reasoning_tokens),
                message=message,
            )
        )
