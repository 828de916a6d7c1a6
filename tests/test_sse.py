"""Tests for the incremental SSE decoder in monitor.probing.sse."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.probing.sse import SSEDecoder, SSEEvent, SSEProtocolError


def decode(pieces: Iterable[bytes], **limits: int) -> list[SSEEvent]:
    """Feed the pieces in order, close the stream, and return every event produced."""
    decoder = SSEDecoder(**limits)
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    events.extend(decoder.close())
    return events


def bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def split_at(stream: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(stream)]
    return [stream[start:end] for start, end in pairwise(bounds)]


# --- Real-shaped streams ------------------------------------------------------------------------

_OPENAI_CHUNK = (
    '{{"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1718000000,'
    '"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1",'
    '"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]}}'
)
OPENAI_1 = _OPENAI_CHUNK.format(
    delta='{"role":"assistant","content":"","refusal":null}', finish="null"
)
OPENAI_2 = _OPENAI_CHUNK.format(delta='{"content":"Hello"}', finish="null")
OPENAI_3 = _OPENAI_CHUNK.format(delta='{"content":" wörld \\u2028"}', finish="null")
OPENAI_4 = _OPENAI_CHUNK.format(delta="{}", finish='"stop"')

AZURE_FILTER = (
    '{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":'
    '[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},'
    '"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,'
    '"severity":"safe"},"violence":{"filtered":false,"severity":"safe"}},"prompt_index":0}]}'
)
AZURE_DELTA = (
    '{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},'
    '"delta":{"content":"Hi"},"finish_reason":null,"index":0,"logprobs":null}],'
    '"created":1718000000,"id":"chatcmpl-Az9","model":"gpt-4o-2024-05-13",'
    '"object":"chat.completion.chunk","system_fingerprint":"fp_5f4bad809a"}'
)
AZURE_STOP = (
    '{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,'
    '"logprobs":null}],"created":1718000000,"id":"chatcmpl-Az9","model":"gpt-4o-2024-05-13",'
    '"object":"chat.completion.chunk","system_fingerprint":"fp_5f4bad809a"}'
)

RESP_CREATED = (
    '{"type":"response.created","sequence_number":0,"response":{"id":"resp_67c9","object":'
    '"response","status":"in_progress","model":"gpt-4.1-2025-04-14","output":[]}}'
)
RESP_DELTA = (
    '{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_67c9",'
    '"output_index":0,"content_index":0,"delta":"Hi \\u00e9"}'
)
RESP_DONE = (
    '{"type":"response.completed","sequence_number":9,"response":{"id":"resp_67c9",'
    '"status":"completed","usage":{"input_tokens":5,"output_tokens":2}}}'
)


def ev(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(data=data, event=event, id=id, retry=retry)


CASES: list[tuple[str, bytes, list[SSEEvent], int]] = [
    (
        "openai_chat_completion",
        "".join(
            f"data: {c}\n\n" for c in (OPENAI_1, OPENAI_2, OPENAI_3, OPENAI_4, "[DONE]")
        ).encode(),
        [ev(OPENAI_1), ev(OPENAI_2), ev(OPENAI_3), ev(OPENAI_4), ev("[DONE]")],
        0,
    ),
    (
        "azure_openai_prompt_filter_first",
        "".join(
            f"data: {c}\n\n" for c in (AZURE_FILTER, AZURE_DELTA, AZURE_STOP, "[DONE]")
        ).encode(),
        [ev(AZURE_FILTER), ev(AZURE_DELTA), ev(AZURE_STOP), ev("[DONE]")],
        0,
    ),
    (
        "responses_api_event_types",
        (
            f"event: response.created\ndata: {RESP_CREATED}\n\n"
            f"event: response.output_text.delta\ndata: {RESP_DELTA}\n\n"
            f"event: response.completed\ndata: {RESP_DONE}\n\n"
        ).encode(),
        [
            ev(RESP_CREATED, "response.created"),
            ev(RESP_DELTA, "response.output_text.delta"),
            ev(RESP_DONE, "response.completed"),
        ],
        0,
    ),
    (
        "keep_alive_comments",
        b": ping\n\n: ping\ndata: a\n:\n\n: OPENROUTER PROCESSING\n\ndata: [DONE]\n\n",
        [ev("a"), ev("[DONE]")],
        4,
    ),
    ("crlf", b"data: a\r\n\r\ndata: b\r\nevent: x\r\n\r\n", [ev("a"), ev("b", "x")], 0),
    ("lone_cr", b"data: a\r\rdata: b\rdata: c\r\r", [ev("a"), ev("b\nc")], 0),
    (
        "mixed_line_endings",
        b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r\nevent: e\n\n",
        [ev("a\nb\nc"), ev("d")],
        0,
    ),
    (
        "data_without_space_and_only_one_space_stripped",
        b"data:a\n\ndata:  two\n\ndata: \tthree\n\n",
        [ev("a"), ev(" two"), ev("\tthree")],
        0,
    ),
    ("multi_line_data", b'data: {\ndata:  "a": 1\ndata: }\n\n', [ev('{\n "a": 1\n}')], 0),
    (
        "colon_in_value_kept",
        b"data: a:b: c\n\nevent:data: x\ndata: y\n\n",
        [ev("a:b: c"), ev("y", "data: x")],
        0,
    ),
    (
        "id_and_retry",
        b"id: 1\nretry: 3000\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\n",
        [ev("a", id="1", retry=3000), ev("b", id="1"), ev("c", id="2"), ev("d", id="")],
        0,
    ),
    (
        "invalid_id_and_retry_ignored",
        b"id: 7\ndata: a\n\nid: x\x00y\nretry: 10s\nretry: -1\nretry:\ndata: b\n\n"
        b"retry: \xd9\xa1\xd9\xa2\ndata: c\n\n",
        [ev("a", id="7"), ev("b", id="7"), ev("c", id="7")],
        0,
    ),
    ("bom_at_start_skipped", b"\xef\xbb\xbfdata: a\n\n", [ev("a")], 0),
    (
        "line_and_paragraph_separators_preserved",
        "data: a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\x1dh\x1ei\n\n".encode(),
        [ev("a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\x1dh\x1ei")],
        0,
    ),
    (
        "empty_data_lines",
        b"data\n\ndata:\n\ndata:\ndata:\n\ndata: a\ndata\n\n",
        [ev(""), ev(""), ev("\n"), ev("a\n")],
        0,
    ),
    (
        "unknown_fields_ignored",
        b"foo: bar\ndata: a\nbaz\nData: no\ndata : no\nDATA: no\n\n",
        [ev("a")],
        0,
    ),
    (
        "field_without_data_dispatches_nothing",
        b"event: x\n\nid: 3\n\n\n\ndata: a\n\n",
        [ev("a", id="3")],
        0,
    ),
    (
        "empty_event_type_is_message",
        b"event:\ndata: a\n\nevent: x\nevent:\ndata: b\n\n",
        [ev("a"), ev("b")],
        0,
    ),
    ("no_trailing_blank_line", b"data: a\n\ndata: [DONE]\n", [ev("a"), ev("[DONE]")], 0),
    ("no_trailing_newline", b"data: a\n\ndata: [DONE]", [ev("a"), ev("[DONE]")], 0),
    ("no_trailing_newline_after_cr_line", b"data: a\rdata: b", [ev("a\nb")], 0),
    ("empty_stream", b"", [], 0),
]


@pytest.mark.parametrize(
    ("stream", "expected", "comments"),
    [pytest.param(s, e, c, id=name) for name, s, e, c in CASES],
)
@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_real_shaped_streams_decode_to_expected_events(
    stream: bytes, expected: list[SSEEvent], comments: int, split: str
) -> None:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for piece in [stream] if split == "whole" else bytewise(stream):
        events.extend(decoder.feed(piece))
    events.extend(decoder.close())
    assert events == expected
    assert decoder.comments == comments
    assert decoder.bytes_fed == len(stream)


# --- Line endings and chunk boundaries ----------------------------------------------------------


def test_cr_at_chunk_end_followed_by_lf_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r\n") == [ev("a\nb")]


def test_cr_at_chunk_end_followed_by_cr_is_two_line_ends() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [ev("a")]
    assert decoder.feed(b"\n") == []  # pairs with the CR before it: not another empty line


def test_lf_after_cr_only_skipped_at_the_very_next_byte() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ev("a")]


def test_event_is_returned_by_the_feed_that_completes_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\ndata: b\n\ndata: c") == [ev("a"), ev("b")]
    assert decoder.feed(b"\n\n") == [ev("c")]
    assert decoder.close() == []


def test_multibyte_character_split_across_feeds_decodes() -> None:
    stream = "data: h\u00e9\u20ac\U0001f600\u2028\n\n".encode()
    for cut in range(len(stream) + 1):
        assert decode([stream[:cut], stream[cut:]]) == [ev("h\u00e9\u20ac\U0001f600\u2028")], cut


def test_invalid_utf8_is_replaced_per_whatwg() -> None:
    assert decode([b"data: \xff ok \xe2\x82\n\n"]) == [ev("\ufffd ok \ufffd")]


# --- Byte order mark ----------------------------------------------------------------------------


def test_bom_split_across_feeds_is_skipped() -> None:
    assert decode(bytewise(b"\xef\xbb\xbfdata: a\n\n")) == [ev("a")]


def test_bom_is_only_skipped_at_stream_start() -> None:
    # A BOM anywhere else is content: it turns the field name into an unknown one.
    assert decode([b"data: a\n\n\xef\xbb\xbfdata: b\n\n"]) == [ev("a")]
    assert decode([b"\xef\xbb\xbf\xef\xbb\xbfdata: b\n\n"]) == []
    assert decode([b"data: a\n\n", b"\xef\xbb\xbfdata: b\n\n"]) == [ev("a")]
    assert decode(["data: \ufeffa\n\n".encode()]) == [ev("\ufeffa")]


def test_bom_before_unterminated_only_line_is_skipped_at_close() -> None:
    assert decode([b"\xef\xbb", b"\xbfdata: a"]) == [ev("a")]


# --- Fields -------------------------------------------------------------------------------------


def test_last_event_id_persists_until_reset_by_empty_id() -> None:
    events = decode([b"id: 9\ndata: a\n\nid: 10\n\ndata: b\n\nid:\ndata: c\n\n"])
    assert [e.id for e in events] == ["9", "10", ""]


def test_retry_applies_only_to_the_event_it_was_seen_in() -> None:
    events = decode([b"retry: 5\n\nretry: 7\nretry: 8\ndata: a\n\ndata: b\n\n"])
    assert [e.retry for e in events] == [8, None]


def test_retry_with_too_many_digits_for_int_is_ignored() -> None:
    line = b"retry: " + b"9" * 10_000 + b"\ndata: a\n\n"
    assert decode([line]) == [ev("a")]


def test_event_type_resets_after_each_blank_line() -> None:
    assert decode([b"event: x\ndata: a\n\ndata: b\n\n"]) == [ev("a", "x"), ev("b")]


def test_comments_are_counted_across_feeds() -> None:
    decoder = SSEDecoder()
    decoder.feed(b": pi")
    decoder.feed(b"ng\r")
    decoder.feed(b"\n:\r\n")
    assert decoder.comments == 2


# --- End of stream ------------------------------------------------------------------------------


def test_close_dispatches_event_left_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n\ndata: [DONE]\n") == [ev("x")]
    assert decoder.close() == [ev("[DONE]")]


def test_close_dispatches_unterminated_last_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: done\ndata: [DO") == []
    assert decoder.feed(b"NE]") == []
    assert decoder.close() == [ev("[DONE]", "done")]


def test_close_after_complete_stream_returns_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\nevent: x\n: ping\n") == [ev("a")]
    assert decoder.close() == []


def test_close_is_idempotent_and_feed_after_close_raises() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a")
    assert decoder.close() == [ev("a")]
    assert decoder.close() == []
    with pytest.raises(RuntimeError, match=r"after close"):
        decoder.feed(b"data: b\n\n")


# --- Limits -------------------------------------------------------------------------------------


def test_endless_line_raises_once_past_max_line_bytes() -> None:
    decoder = SSEDecoder(max_line_bytes=1000)
    for _ in range(10):
        assert decoder.feed(b"x" * 100) == []  # exactly 1000 bytes pending is still allowed
    with pytest.raises(SSEProtocolError, match=r"1100 bytes.*max_line_bytes=1000"):
        decoder.feed(b"x" * 100)


def test_line_of_exactly_max_line_bytes_is_accepted() -> None:
    line = b"data: " + b"x" * 94
    assert decode([line + b"\n\n"], max_line_bytes=100) == [ev("x" * 94)]
    assert decode(bytewise(line + b"\r\n\r\n"), max_line_bytes=100) == [ev("x" * 94)]


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([b"data: a\n\ndata: " + b"x" * 95 + b"\n\n"], id="terminated_in_one_chunk"),
        pytest.param([b"data: a\n\ndata: " + b"x" * 95], id="unterminated_in_one_chunk"),
        pytest.param([b"data: a\n\ndata: " + b"x" * 94, b"x\n"], id="completed_by_next_chunk"),
        pytest.param([b"data: a\n\n" + b"x" * 100, b"x"], id="pending_after_complete_lines"),
    ],
)
def test_line_over_max_line_bytes_raises_however_it_arrives(pieces: Sequence[bytes]) -> None:
    decoder = SSEDecoder(max_line_bytes=100)
    for piece in pieces[:-1]:
        decoder.feed(piece)
    with pytest.raises(SSEProtocolError, match=r"101 bytes.*max_line_bytes=100"):
        decoder.feed(pieces[-1])


def test_huge_event_of_many_data_lines_raises_past_max_event_bytes() -> None:
    decoder = SSEDecoder(max_event_bytes=10_000)
    line = b"data: " + b"x" * 99 + b"\n"  # 100 bytes of event data, counting its LF
    for _ in range(100):
        assert decoder.feed(line) == []
    with pytest.raises(SSEProtocolError, match=r"10100 bytes.*max_event_bytes=10000"):
        decoder.feed(line)


def test_event_data_limit_applies_per_event() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    event = b"data: " + b"x" * 99 + b"\n\n"
    for _ in range(50):
        assert decoder.feed(event) == [ev("x" * 99)]


def test_single_100mb_chunk_without_newline_raises_quickly_without_copying() -> None:
    chunk = b"x" * 100_000_000
    decoder = SSEDecoder()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SSEProtocolError, match=r"max_line_bytes=1048576"):
            decoder.feed(chunk)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1_000_000


def test_decoder_stays_failed_after_protocol_error() -> None:
    decoder = SSEDecoder(max_line_bytes=10)
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"x" * 11)
    with pytest.raises(SSEProtocolError, match=r"max_line_bytes=10"):
        decoder.feed(b"\n\ndata: a\n\n")
    with pytest.raises(SSEProtocolError, match=r"max_line_bytes=10"):
        decoder.close()


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param({"max_line_bytes": 0}, id="line"),
        pytest.param({"max_event_bytes": 0}, id="event"),
    ],
)
def test_non_positive_limits_are_rejected(limits: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"limits must be >= 1"):
        SSEDecoder(**limits)


# --- Property: any split of a valid stream gives the same, expected events ----------------------

SPECIAL_CHARS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\ufeff", "\x00", " ", ":"]
SPECIAL_CHARS += ["\u00e9", "\u20ac", "\U0001f600"]
texts = st.text(
    st.one_of(
        st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"),
        st.sampled_from(SPECIAL_CHARS),
    ),
    max_size=12,
)
ids = texts.filter(lambda s: "\x00" not in s)
LINE_ENDINGS = ["\n", "\r\n", "\r"]


def field_line(draw: st.DrawFn, name: str, value: str) -> str:
    """One way to write the field: ``name: value``, ``name:value`` or a bare ``name``."""
    forms = [f"{name}: {value}"]
    if not value.startswith(" "):
        forms.append(f"{name}:{value}")
    if not value:
        forms.append(name)
    return draw(st.sampled_from(forms))


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent], int]:
    """A valid event stream, the events it must decode to, and its number of comment lines."""
    lines: list[str] = []
    expected: list[SSEEvent] = []
    comments = 0
    last_id: str | None = None
    for _ in range(draw(st.integers(0, 5))):
        event_type = draw(st.none() | texts)
        new_id = draw(st.none() | ids)
        retry = draw(st.none() | st.integers(0, 10**9))
        items: list[tuple[str, str]] = [
            ("data", field_line(draw, "data", value)) for value in draw(st.lists(texts, max_size=4))
        ]
        if event_type is not None:
            items.append(("other", field_line(draw, "event", event_type)))
        if new_id is not None:
            items.append(("other", field_line(draw, "id", new_id)))
        if retry is not None:
            items.append(("other", f"retry: {retry}"))
        for comment in draw(st.lists(texts, max_size=2)):
            items.append(("comment", ":" + comment))
        ignored = ["foo: bar", "Data: x", "data : x", "id: a\x00b", "retry: 1x", "retry:"]
        for line in draw(st.lists(st.sampled_from(ignored), max_size=2)):
            items.append(("other", line))
        items = draw(st.permutations(items))
        data = [line.partition(":")[2].removeprefix(" ") for kind, line in items if kind == "data"]
        comments += sum(kind == "comment" for kind, _ in items)
        lines.extend(line for _, line in items)
        lines.append("")
        if new_id is not None:
            last_id = new_id
        if data:
            expected.append(SSEEvent("\n".join(data), event_type or "message", last_id, retry))
    ending = draw(st.sampled_from(["blank_line", "line_end", "nothing"]))
    if ending != "blank_line" and lines:
        lines.pop()
    stream = []
    previous = ""
    for index, line in enumerate(lines):
        line_end = draw(st.sampled_from(LINE_ENDINGS))
        if previous == "\r" and not line and line_end == "\n":
            line_end = "\r\n"  # a CR then an empty LF-ended line would read as one CRLF
        if ending == "nothing" and index == len(lines) - 1:
            line_end = ""
        stream.append(line + line_end)
        previous = line_end
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + "".join(stream)).encode(), expected, comments


@given(case=sse_streams(), data=st.data())
def test_any_split_of_a_valid_stream_yields_the_expected_events(
    case: tuple[bytes, list[SSEEvent], int], data: st.DataObject
) -> None:
    stream, expected, comments = case
    # Favour the tricky cut points: between CR and LF, and inside multi-byte characters.
    tricky = [i + 1 for i, byte in enumerate(stream) if byte == 0x0D or byte >= 0x80]
    positions = st.integers(0, len(stream))
    if tricky:
        positions = positions | st.sampled_from(tricky)
    cuts = data.draw(st.lists(positions, max_size=12), label="cuts")

    decoder = SSEDecoder()
    split_events: list[SSEEvent] = []
    for piece in split_at(stream, cuts):
        split_events.extend(decoder.feed(piece))
    split_events.extend(decoder.close())

    assert split_events == expected
    assert decode([stream]) == expected
    assert decode(bytewise(stream)) == expected
    assert decoder.comments == comments
    assert decoder.bytes_fed == len(stream)
