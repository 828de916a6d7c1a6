"""A body made on a thread of its own while the event loop sends it (``made_ahead``).

Starlette sends a synchronous iterator's chunks by asking a worker thread for each chunk in
turn, then sending it, then asking for the next: the two take turns, and every turn waits for
the interpreter lock to pass between threads. In the daemon's main process other threads (the
reader of the measuring process's results, the sink, the store writer) want that lock too, so
each of a scrape's 180 turns could wait for one of them: a ``/metrics`` scrape of 5,000
endpoints that an idle process serves in about 220 ms took twice that. Here one thread makes
the chunks while the loop sends those made before, at most ``ahead`` chunks ahead of it, so
memory stays bounded (docs/architecture.md#memory).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator

#: Chunks made and not yet sent, at most.
AHEAD = 2

_END = object()


async def made_ahead(chunks: Iterator[bytes], ahead: int = AHEAD) -> AsyncGenerator[bytes, None]:
    """``chunks``, made on a thread of their own, at most ``ahead`` of what has been taken. An
    error in making them is raised here; if the taker stops early (the client went away), the
    maker stops at its next chunk and ``chunks`` is closed."""
    loop = asyncio.get_running_loop()
    made: asyncio.Queue[object] = asyncio.Queue()
    room = threading.Semaphore(ahead)
    stopped = threading.Event()

    def hand_over(item: object) -> None:
        try:
            loop.call_soon_threadsafe(made.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody takes it any more
            stopped.set()

    def make() -> None:
        try:
            for chunk in chunks:
                room.acquire()
                if stopped.is_set():
                    return
                hand_over(chunk)
            hand_over(_END)
        except BaseException as error:  # raised again on the loop, by the taker
            hand_over(error)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    maker = threading.Thread(target=make, name="llm-monitor-body", daemon=True)
    maker.start()
    try:
        while True:
            item = await made.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
            room.release()
    finally:
        stopped.set()
        room.release()  # a maker waiting for room wakes up and sees it should stop
