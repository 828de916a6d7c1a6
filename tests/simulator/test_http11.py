"""The minimal HTTP/1.1 request parser and chunked framing."""

from __future__ import annotations

import pytest

from monitor.simulator.http11 import ParseError, chunk, parse_request, response_head

from .helpers import encode_request


def test_parses_a_complete_request_and_reports_bytes_used() -> None:
    raw = encode_request("POST", "/a%20b/x?api-version=2024-10-21&x=", {"Api-Key": "k"}, b"{}")
    parsed = parse_request(raw + b"GET /next")

    assert parsed is not None
    request, used = parsed
    assert used == len(raw)
    assert (request.method, request.path, request.body) == ("POST", "/a b/x", b"{}")
    assert request.query == {"api-version": "2024-10-21", "x": ""}
    assert request.headers["api-key"] == "k"
    assert request.keep_alive


def test_waits_for_the_whole_head_and_body() -> None:
    raw = encode_request("POST", "/p", {}, b'{"a": 1}')

    assert parse_request(raw[:10]) is None
    assert parse_request(raw[:-1]) is None
    assert parse_request(raw) is not None


def test_repeated_headers_are_joined() -> None:
    parsed = parse_request(b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n")

    assert parsed is not None
    assert parsed[0].headers["x-a"] == "1, 2"


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        ("GET / HTTP/1.1\r\n\r\n", True),
        ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        ("GET / HTTP/1.0\r\n\r\n", False),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_version_and_connection_header(head: str, keep_alive: bool) -> None:
    parsed = parse_request(head.encode())

    assert parsed is not None
    assert parsed[0].keep_alive is keep_alive


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET / HTTP/2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno-colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 70000, 431),
    ],
)
def test_bad_requests_raise_the_status_to_answer(raw: bytes, status: int) -> None:
    with pytest.raises(ParseError) as caught:
        parse_request(raw)

    assert caught.value.status == status


def test_chunk_frames_data_with_hex_length() -> None:
    assert chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"


def test_response_head_ends_with_a_blank_line() -> None:
    assert response_head(429, [("retry-after", "2")]) == (
        b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\n\r\n"
    )
