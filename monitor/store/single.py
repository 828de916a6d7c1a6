"""One agent per SQLite file (docs/design.md#agents).

Several agents share a PostgreSQL store; an SQLite file serves one. An agent that runs on an
SQLite file holds an exclusive ``flock`` on a file beside it (``monitor.db.agent-lock``) for as
long as it runs, with its name, location and process id written in it, so that a second agent
on the same file stops before it touches the store and says which agent holds it. The kernel
drops the lock when the process ends, however it ends (``kill -9`` included): no stale lock.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from monitor.core.agent import AgentIdentity
from monitor.core.errors import StoreError

try:  # POSIX; elsewhere the lock is not taken (the product runs on Linux)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".agent-lock"


@dataclass
class AgentLock:
    """An agent's hold on an SQLite file; ``release()`` lets the next agent have it."""

    path: Path
    _fd: int | None

    def release(self) -> None:
        """Give the file up (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite store URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def hold_sqlite_store(url: str, agent: AgentIdentity) -> AgentLock | None:
    """Become the one agent of the SQLite store at ``url`` (None for any other store); raise
    StoreError naming the agent that already runs on it."""
    path = sqlite_path(url)
    if path is None or fcntl is None:
        return None
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open {lock_path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise StoreError(
            f"another agent{holder} already runs on the SQLite store {path}; an SQLite file"
            " serves one agent. Stop that one, give this one another storage.url, or share a"
            " PostgreSQL store between agents (postgresql+psycopg://...)"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot lock {lock_path}: {exc.strerror or exc}") from None
    mine = json.dumps({"agent": agent.name, "location": agent.location, "pid": os.getpid()})
    os.ftruncate(fd, 0)
    os.pwrite(fd, mine.encode() + b"\n", 0)
    return AgentLock(lock_path, fd)


def _holder(fd: int) -> str:
    """`` ('name' in location 'loc', pid N)`` from the lock file, or nothing when unreadable."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f" ({data['agent']!r} in location {data['location']!r}, pid {int(data['pid'])})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""
