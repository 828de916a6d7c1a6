"""The daemon's HTTP app over a page-test world, served on a real loopback socket (uvicorn in a
thread), for the browser to load."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn

from monitor.api.app import create_app
from tests.web.world import NOW, View


@contextlib.contextmanager
def serving(view: View) -> Iterator[str]:
    """The daemon's app over ``view`` on a loopback socket, in a thread; its base URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(view, clock=lambda: NOW), log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        for _ in range(3000):  # up to 30 s: a loaded machine starts uvicorn slowly
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
