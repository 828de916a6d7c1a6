"""Turn a plan into a script: the exact bytes of one response and when each part goes out.

A script is a list of timed steps (head bytes, body frames) plus how the exchange ends. The
server's timer loop only writes steps; every decision about *what* a behaviour sends is here:

==================== ========================================================================
behaviour            on the wire
==================== ========================================================================
normal               200 SSE: preamble, content chunks, finish (+ usage), ``[DONE]``
keepalive_comments   as normal, with ``: ping`` comments while waiting and between chunks
empty                as normal but no content chunk (finish ``stop``, 0 completion tokens)
content_filter       half the content, then ``finish_reason: content_filter``
server_error         500 (or the configured 502/503) with the service's error body
rate_limited         429 with ``retry-after`` (and ``retry-after-ms`` on Azure)
bad_request          400 ``unsupported_parameter``
hang_before_headers  nothing at all; the socket stays open
hang_after_headers   the 200 head only; the socket stays open
hang_mid_stream      some content chunks, then silence with the socket open
mid_stream_error     some content, then an ``error`` event, then a clean end (no ``[DONE]``)
truncated            some content, then the connection closes without the chunked terminator
                     ("incomplete chunked read", what a cut stream looks like to a client);
                     with ``truncate_style: clean`` the body ends properly but without
                     ``[DONE]`` or a finish reason; with ``reset`` the connection is reset
                     (RST) mid-stream
reset                the request is read, then the connection is reset (RST)
not_sse              200 ``text/html`` (or ``application/json``) instead of an event stream
malformed_json       some content, then an event whose JSON is cut short, then ``[DONE]``
drip                 the normal body, one byte every ``drip_interval``
invalid_utf8         as normal, but one content chunk's text carries bytes that are not UTF-8
                     (``\xff\xfe``) inside its JSON string
close_delimited      as normal, but an HTTP/1.0 answer with neither ``Content-Length`` nor
                     chunked encoding: the body ends when the server closes the connection
redirect             ``redirect_status`` (307) with ``Location: {redirect_to}{request path}``
endless_line         200 SSE whose one ``data:`` line never ends: ``flood_bytes`` bytes sent as
                     fast as the client reads them (flow-controlled, so the simulator holds
                     only its socket buffer)
huge_event           200 SSE with one event of ``flood_bytes`` bytes of 1 KiB ``data:`` lines
                     that never reaches its terminating blank line (flow-controlled too)
premature_stop       part of the answer (``cut_after_fraction`` of its chunks), then a normal
                     finish (``stop``, usage of what was sent) and ``[DONE]``, or a normal
                     ``response.completed``: what a gateway sends that fabricates a clean end
                     after its upstream was cut
==================== ========================================================================
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from monitor.simulator.behaviour import Plan
from monitor.simulator.config import Behaviour, EndpointConfig
from monitor.simulator.error_bodies import (
    STREAM_ERROR,
    bad_request_body,
    rate_limited_body,
    server_error_body,
)
from monitor.simulator.heads import Body, HeadSpec
from monitor.simulator.routes import Generation
from monitor.simulator.wire import (
    DONE,
    NOT_SSE_HTML,
    PING,
    ChatChunks,
    chat_completion_body,
    stream_error_event,
)
from monitor.simulator.wire_responses import ResponseEvents

HEAD = 1
CONTENT = 2
DONE_FLAG = 4
USAGE = 8

Ending = Literal["keep", "abort", "hang", "reset", "close"]


@dataclass(slots=True)
class Step:
    """Bytes due ``at`` seconds after the request arrived: a raw head and/or body frames."""

    at: float
    raw: bytes = b""
    body: bytes = b""
    flags: int = 0
    tokens: int = 0
    text: str = ""
    #: Streamed reasoning, not the answer (ground truth keeps the first answer apart).
    reasoning: bool = False


@dataclass(frozen=True, slots=True)
class Flood:
    """Body bytes sent after the last step as fast as the client reads them: ``unit`` again and
    again until ``total`` bytes went out, then ``tail``."""

    unit: bytes
    total: int
    tail: bytes = b""


@dataclass(slots=True)
class Script:
    """One response: its status, whether the body is chunked, its steps and its ending."""

    status: int | None
    chunked: bool
    steps: list[Step] = field(default_factory=list)
    ending: Ending = "keep"
    coalesce: bool = True
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None
    flood: Flood | None = None
    #: Drip mode: body bytes go out one at a time, this many seconds apart (see Exchange).
    drip: float | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a script needs besides the plan."""

    azure: bool
    endpoint: EndpointConfig
    generation: Generation
    model: str
    completion_id: str
    message_id: str
    created: int
    request_id: str
    obfuscation: Callable[[], str] | None
    head: Callable[[HeadSpec], bytes]
    #: The request target (path and query), where a redirect keeps pointing.
    target: str = "/"


def build(ctx: Context, plan: Plan) -> Script:
    """The script of one generation request under ``plan.behaviour``."""
    behaviour = plan.behaviour
    if behaviour is Behaviour.RESET:
        return Script(status=None, chunked=False, ending="reset", steps=[Step(at=0.0)])
    if behaviour is Behaviour.HANG_BEFORE_HEADERS:
        return Script(status=None, chunked=False, ending="hang")
    if behaviour in _ERRORS or (
        behaviour is Behaviour.MID_STREAM_ERROR and not ctx.generation.stream
    ):
        return _error(ctx, plan)
    if behaviour is Behaviour.NOT_SSE:
        return _not_sse(ctx, plan)
    if behaviour is Behaviour.REDIRECT:
        return _redirect(ctx, plan)
    if behaviour in (Behaviour.ENDLESS_LINE, Behaviour.HUGE_EVENT):
        return _flood(ctx, plan)
    script = _stream(ctx, plan) if ctx.generation.stream else _whole(ctx, plan)
    if behaviour is Behaviour.DRIP:
        _drip(script, ctx.endpoint.drip_interval)
    if behaviour is Behaviour.CLOSE_DELIMITED:
        script.chunked = False
        script.ending = "close"
    return script


_ERRORS = frozenset({Behaviour.SERVER_ERROR, Behaviour.RATE_LIMITED, Behaviour.BAD_REQUEST})


def _error(ctx: Context, plan: Plan) -> Script:
    endpoint = ctx.endpoint
    if plan.behaviour is Behaviour.RATE_LIMITED:
        status = 429
        body = rate_limited_body(azure=ctx.azure, model=ctx.model, wait=endpoint.retry_after)
    elif plan.behaviour is Behaviour.BAD_REQUEST:
        status = 400
        body = bad_request_body(azure=ctx.azure)
    else:
        status = endpoint.server_error_status
        body = server_error_body(azure=ctx.azure, status=status, request_id=ctx.request_id)
    head = ctx.head(
        HeadSpec(
            status=status,
            body="json",
            length=len(body),
            retry_after=endpoint.retry_after if status == 429 else None,
            processing_ms=round(plan.first_byte * 1000),
        )
    )
    step = Step(at=plan.first_byte, raw=head, body=body, flags=HEAD | DONE_FLAG)
    return Script(status=status, chunked=False, steps=[step])


def _not_sse(ctx: Context, plan: Plan) -> Script:
    kind: Body = "html" if ctx.endpoint.not_sse_body == "html" else "json"
    body = NOT_SSE_HTML if kind == "html" else b'{"status":"ok"}'
    head = ctx.head(HeadSpec(status=200, body=kind, length=len(body)))
    step = Step(at=plan.first_byte, raw=head, body=body, flags=HEAD | DONE_FLAG)
    return Script(status=200, chunked=False, steps=[step])


def _redirect(ctx: Context, plan: Plan) -> Script:
    endpoint = ctx.endpoint
    location = endpoint.redirect_to + ctx.target
    head = ctx.head(
        HeadSpec(status=endpoint.redirect_status, body="json", length=0, location=location)
    )
    step = Step(at=plan.first_byte, raw=head, flags=HEAD | DONE_FLAG)
    return Script(status=endpoint.redirect_status, chunked=False, steps=[step])


#: One line of ``huge_event``: 1 KiB with its LF, never a blank line between them.
_EVENT_LINE = b"data: " + b"x" * 1017 + b"\n"


def _flood(ctx: Context, plan: Plan) -> Script:
    head = ctx.head(HeadSpec(status=200, body="sse", length=None))
    if plan.behaviour is Behaviour.ENDLESS_LINE:
        prefix = b'data: {"choices":[{"index":0,"delta":{"content":"'
        flood = Flood(unit=b"x" * 65536, total=ctx.endpoint.flood_bytes, tail=b'"}}]}\n\n' + DONE)
    else:
        prefix = b""
        flood = Flood(unit=_EVENT_LINE * 64, total=ctx.endpoint.flood_bytes, tail=b"\n" + DONE)
    step = Step(at=plan.first_byte, raw=head, body=prefix, flags=HEAD)
    return Script(status=200, chunked=True, steps=[step], flood=flood)


#: What ``invalid_utf8`` puts inside a chunk's text: a byte that never occurs in UTF-8 and one
#: that cannot start a sequence.
INVALID_UTF8 = b"\xff\xfe"


def _spoil_utf8(frame: bytes, text_json: bytes) -> bytes:
    """The frame with ``INVALID_UTF8`` inside the JSON string ``text_json`` it carries."""
    return frame.replace(text_json, text_json[:-1] + INVALID_UTF8 + b'"', 1)


def _incomplete_reason(finish_reason: str) -> str | None:
    return {"length": "max_output_tokens", "content_filter": "content_filter"}.get(finish_reason)


def _stream(ctx: Context, plan: Plan) -> Script:
    gen = ctx.generation
    behaviour = plan.behaviour
    texts = plan.texts()
    encoded = _encoded(texts)
    thinking = plan.reasoning_chunks
    cut = plan.cut if plan.cut is not None else len(texts)
    head = ctx.head(
        HeadSpec(
            status=200,
            body="sse",
            length=None,
            processing_ms=round(plan.first_byte * 1000),
            close_delimited=behaviour is Behaviour.CLOSE_DELIMITED,
        )
    )
    script = Script(status=200, chunked=True)
    steps = script.steps
    chat: ChatChunks | None = None
    events: ResponseEvents | None = None
    if gen.api == "chat_completions":
        chat = ChatChunks(
            azure=ctx.azure,
            completion_id=ctx.completion_id,
            created=ctx.created,
            model=ctx.model,
            system_fingerprint=ctx.endpoint.system_fingerprint,
            include_usage=gen.include_usage,
            obfuscation=ctx.obfuscation,
            filter_results=ctx.endpoint.filter_results,
        )
        annotated = ctx.azure and ctx.endpoint.filter_results
        preamble = (chat.prompt_filter() if annotated else b"") + chat.role()
    else:
        events = ResponseEvents(
            response_id=ctx.completion_id,
            message_id=ctx.message_id,
            created_at=ctx.created,
            model=ctx.model,
            max_output_tokens=gen.max_tokens,
            obfuscation=ctx.obfuscation,
            reasoning_id=_reasoning_id(ctx.message_id) if plan.reasoning_tokens else None,
            summarised=thinking > 0,
        )
        preamble = b"".join(events.preamble())
    if behaviour is Behaviour.HANG_AFTER_HEADERS:
        steps.append(Step(at=plan.first_byte, raw=head, flags=HEAD))
        script.ending = "hang"
        return script
    steps.append(Step(at=plan.first_byte, raw=head, body=preamble, flags=HEAD))
    sent_text = ""
    spoiled = len(texts) // 2 if behaviour is Behaviour.INVALID_UTF8 else -1
    summary = "".join(texts[:thinking])
    for index in range(cut):
        text = texts[index]
        if index < thinking:
            style = plan.reasoning_style or "reasoning_content"
            frame = (
                chat.reasoning_json(encoded[index], style)
                if chat is not None
                else _reasoning_delta(events, text)
            )
        elif chat is not None:
            frame = chat.content_json(encoded[index])
        else:
            # The first answer delta ends the reasoning item (built first: events are numbered
            # in the order they are built).
            ended = index == thinking and plan.reasoning_tokens > 0
            frame = b"".join(_reasoning_end(events, summary)) if ended else b""
            frame += _delta(events, text)
        if index == spoiled:
            frame = _spoil_utf8(frame, encoded[index])
        steps.append(
            Step(
                at=plan.chunk_times[index],
                body=frame,
                flags=CONTENT,
                tokens=plan.chunk_tokens[index],
                text=text,
                reasoning=index < thinking,
            )
        )
        if index >= thinking:
            sent_text += text
    after = (
        plan.chunk_times[cut]
        if cut < len(texts)
        else (plan.chunk_times[-1] if texts else plan.ttft)
    )
    if behaviour is Behaviour.HANG_MID_STREAM:
        script.ending = "hang"
    elif behaviour is Behaviour.TRUNCATED:
        script.ending = _TRUNCATION_ENDINGS[ctx.endpoint.truncate_style]
    elif behaviour is Behaviour.MID_STREAM_ERROR:
        frame = stream_error_event(STREAM_ERROR) if chat is not None else _error_event(events)
        steps.append(Step(at=after, body=frame))
    elif behaviour is Behaviour.MALFORMED_JSON:
        broken_text = texts[cut] if cut < len(texts) else " 0"
        broken = (
            chat.malformed(broken_text) if chat is not None else _malformed(events, broken_text)
        )
        steps.append(Step(at=after, body=broken + (DONE if chat is not None else b"")))
    else:
        message = True
        if events is not None and plan.reasoning_tokens and cut <= thinking:
            # Reasoning used up the budget: the reasoning item ends and no message begins.
            steps.append(Step(at=after, body=b"".join(_reasoning_end(events, summary, False))))
            message = False
        steps.append(_closing(script, plan, gen, chat, events, sent_text, after, message))
    if behaviour is Behaviour.KEEPALIVE_COMMENTS:
        _add_pings(script, plan, ctx.endpoint.ping_interval)
    return script


#: How ``truncated`` ends the connection, by ``truncate_style``.
_TRUNCATION_ENDINGS: dict[str, Ending] = {"abrupt": "abort", "clean": "keep", "reset": "reset"}


def _closing(
    script: Script,
    plan: Plan,
    gen: Generation,
    chat: ChatChunks | None,
    events: ResponseEvents | None,
    text: str,
    at: float,
    message: bool = True,
) -> Step:
    """The end of a complete stream: finish (+ usage) + ``[DONE]``, or ``response.completed``
    (``message``: the Responses API output has a message item)."""
    tokens = plan.output_tokens
    script.finish_reason = plan.finish_reason
    if chat is not None:
        closing = chat.finish(plan.finish_reason)
        flags = DONE_FLAG
        if gen.include_usage:
            closing += chat.usage(gen.prompt_tokens, tokens, plan.reasoning_tokens)
            script.usage = (gen.prompt_tokens, tokens)
            flags |= USAGE
        return Step(at=at, body=closing + DONE, flags=flags)
    assert events is not None
    closing = b"".join(
        events.finish(
            text,
            input_tokens=gen.prompt_tokens,
            output_tokens=tokens,
            incomplete_reason=_incomplete_reason(plan.finish_reason),
            reasoning_tokens=plan.reasoning_tokens,
            message=message,
        )
    )
    script.usage = (gen.prompt_tokens, tokens)
    return Step(at=at, body=closing, flags=DONE_FLAG | USAGE)


@functools.lru_cache(maxsize=1024)
def _encoded(texts: tuple[str, ...]) -> tuple[bytes, ...]:
    """Each chunk's text as a JSON string (cached: plans repeat)."""
    return tuple(json.dumps(text, ensure_ascii=False).encode() for text in texts)


def _reasoning_id(message_id: str) -> str:
    """The reasoning item's id beside a message's (``rs_`` and the same hex)."""
    return "rs_" + message_id.split("_", 1)[-1]


def _reasoning_delta(events: ResponseEvents | None, text: str) -> bytes:
    assert events is not None
    return events.reasoning_delta(text)


def _reasoning_end(
    events: ResponseEvents | None, summary: str, then_message: bool = True
) -> list[bytes]:
    assert events is not None
    return events.reasoning_end(summary, then_message=then_message)


def _delta(events: ResponseEvents | None, text: str) -> bytes:
    assert events is not None
    return events.delta(text)


def _error_event(events: ResponseEvents | None) -> bytes:
    assert events is not None
    return events.error(STREAM_ERROR)


def _malformed(events: ResponseEvents | None, text: str) -> bytes:
    assert events is not None
    return events.malformed_delta(text)


def _add_pings(script: Script, plan: Plan, interval: float) -> None:
    """``: ping`` comments every ``interval`` before the first chunk, and one between chunks."""
    pings: list[Step] = []
    content = [step.at for step in script.steps if step.flags & CONTENT]
    first = content[0] if content else plan.ttft
    at = plan.first_byte + interval
    while at < first:
        pings.append(Step(at=at, body=PING))
        at += interval
    pings.extend(Step(at=(a + b) / 2, body=PING) for a, b in itertools.pairwise(content) if b > a)
    script.steps.extend(pings)
    script.steps.sort(key=lambda step: step.at)


def _whole(ctx: Context, plan: Plan) -> Script:
    """A non-streamed answer: one JSON body once the whole answer is generated."""
    gen = ctx.generation
    behaviour = plan.behaviour
    texts = plan.texts()
    thinking = plan.reasoning_chunks
    text = "".join(texts[thinking:])
    thought = "".join(texts[:thinking])
    tokens = plan.output_tokens
    ready = plan.chunk_times[-1] if plan.chunk_times else plan.ttft
    if gen.api == "chat_completions":
        style = plan.reasoning_style
        body = chat_completion_body(
            azure=ctx.azure,
            completion_id=ctx.completion_id,
            created=ctx.created,
            model=ctx.model,
            system_fingerprint=ctx.endpoint.system_fingerprint,
            text=text,
            finish_reason=plan.finish_reason,
            prompt_tokens=gen.prompt_tokens,
            completion_tokens=tokens,
            reasoning_tokens=plan.reasoning_tokens,
            reasoning=(style, thought) if style is not None and thinking else None,
        )
    else:
        events = ResponseEvents(
            response_id=ctx.completion_id,
            message_id=ctx.message_id,
            created_at=ctx.created,
            model=ctx.model,
            max_output_tokens=gen.max_tokens,
            obfuscation=None,
            reasoning_id=_reasoning_id(ctx.message_id) if plan.reasoning_tokens else None,
            summarised=thinking > 0,
        )
        body = events.body(
            text,
            input_tokens=gen.prompt_tokens,
            output_tokens=tokens,
            incomplete_reason=_incomplete_reason(plan.finish_reason),
            reasoning_tokens=plan.reasoning_tokens,
            summary=thought,
            message=not plan.reasoning_tokens or len(texts) > thinking,
        )
    head = ctx.head(
        HeadSpec(
            status=200,
            body="json",
            length=len(body),
            processing_ms=round(ready * 1000),
            close_delimited=behaviour is Behaviour.CLOSE_DELIMITED,
        )
    )
    script = Script(status=200, chunked=False, finish_reason=plan.finish_reason)
    content_flag = CONTENT if tokens else 0
    if behaviour is Behaviour.HANG_AFTER_HEADERS:
        script.steps.append(Step(at=plan.first_byte, raw=head, flags=HEAD))
        script.ending = "hang"
    elif behaviour in (Behaviour.HANG_MID_STREAM, Behaviour.TRUNCATED):
        script.steps.append(Step(at=ready, raw=head, body=body[: len(body) // 2], flags=HEAD))
        script.ending = "hang" if behaviour is Behaviour.HANG_MID_STREAM else "abort"
    elif behaviour is Behaviour.MALFORMED_JSON:
        broken = body[: len(body) // 2].ljust(len(body), b" ")
        script.steps.append(Step(at=ready, raw=head, body=broken, flags=HEAD | DONE_FLAG))
    else:
        script.usage = (gen.prompt_tokens, tokens)
        flags = HEAD | content_flag | DONE_FLAG | USAGE
        script.steps.append(
            Step(at=ready, raw=head, body=body, flags=flags, tokens=tokens, text=text)
        )
    return script


def _drip(script: Script, interval: float) -> None:
    """Send the head when due, then the body one byte every ``interval``."""
    script.drip = interval
    script.coalesce = False
