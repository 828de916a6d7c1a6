"""One agent per SQLite file (docs/design.md#agents).

Several agents share a PostgreSQL store; an SQLite file serves one. An agent that runs on an
SQLite file holds an exclusive ``flock`` on the database file for as long as it runs, so that a
second agent on the same file stops before it touches the store. ``flock`` locks are apart from
the POSIX record locks SQLite takes on the same file, so they neither block nor release each
other; the descriptor that holds it is closed only after the store's own connections are (on
Linux, closing any descriptor of a file drops the POSIX locks the process holds on it). The
kernel drops the lock when the process ends, however it ends (``kill -9`` included): there is
never a stale lock, and no file is left beside the database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from monitor.core.errors import StoreError

try:  # POSIX; elsewhere the lock is not taken (the product runs on Linux)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


@dataclass
class AgentLock:
    """An agent's hold on an SQLite file; ``release()`` (after the store is closed) lets the
    next agent have it."""

    path: Path
    _fd: int | None

    def release(self) -> None:
        """Give the file up (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.close(fd)  # closing the only descriptor drops the flock


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite store URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def hold_sqlite_store(url: str, holder: Callable[[], str] = lambda: "") -> AgentLock | None:
    """Become the one agent of the SQLite store at ``url`` (None for any other store); raise
    StoreError when another agent runs on it, naming it with ``holder()`` (which reads the
    store, never writes it)."""
    path = sqlite_path(url)
    if path is None or fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreError(
            f"another agent{holder()} already runs on the SQLite store {path}; an SQLite file"
            " serves one agent. Stop that one, give this one another storage.url, or share a"
            " PostgreSQL store between agents (postgresql+psycopg://...)"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot lock {path}: {exc.strerror or exc}") from None
    return AgentLock(path, fd)
