"""Resident memory of the daemon's processes, where the C library is glibc (docs/architecture.md
#memory).

CPython hands allocations above 512 bytes (and its own 256 KiB arenas) to ``malloc``. glibc's
``malloc`` gives every thread that allocates an arena of its own (up to 8 per core), and keeps
freed memory in them for reuse: the daemon's threads (sink, store writer, rollups, HTTP
workers) each leave such memory behind after a burst (a rollup of every endpoint, a scrape).
So the daemon limits the arenas to two, and gives back what is free after each window job.
Both are no-ops where ``mallopt`` and ``malloc_trim`` do not exist (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

#: ``mallopt`` parameter: the most arenas glibc makes (malloc.h).
M_ARENA_MAX = -8
#: Arenas the daemon's processes use.
ARENAS = 2


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None
    return libc


_LIBC = _libc()


def limit_arenas(count: int = ARENAS) -> bool:
    """Let ``malloc`` use at most ``count`` arenas (call before threads start); whether it
    could be set."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_ARENA_MAX, count) == 1)


def give_back() -> bool:
    """Return the C heap's free pages to the system; whether any were returned."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0) == 1)
