"""The daemon's listening socket: the connections it accepts send small responses at once."""

from __future__ import annotations

import socket

from monitor.api.server import listen


def test_accepted_connections_have_nagle_off() -> None:
    # Without TCP_NODELAY, the second small response on a kept-alive connection waits for the
    # client's delayed ACK (about 40 ms on Linux): every scrape and page refresh after the first.
    server = listen("127.0.0.1", 0)
    try:
        with socket.create_connection(server.getsockname()[:2], timeout=5):
            accepted, _ = server.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.close()
