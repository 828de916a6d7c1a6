"""Virtual time for an event loop that runs on a thread of its own (the probe scheduler's).

The loop's clock stands still while the loop has work to do, and jumps straight to its next
timer when it would otherwise sleep until then, but never past the *horizon* the test sets. At
the horizon the loop waits (in real time) until the test moves the horizon on. So the test
thread says "run every timer up to 25 s", and then looks at what happened by then, however
slow or loaded the machine is.

While real I/O is on its way (``real_io()``, around a probe of the simulator over loopback),
virtual time runs at the speed of real time instead, so that the answer has time to arrive and
a server that never answers still meets its timeout; it still never passes a timer or the
horizon, so no timer ever fires late.

The wall clock is ``EPOCH`` plus the virtual seconds. ``VirtualClock.datetime_class()`` is a
``datetime`` whose ``now()`` reads it, for what reads ``datetime.now`` itself (APScheduler).
"""

from __future__ import annotations

import asyncio
import math
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

#: The wall-clock time of virtual second 0: 2025-06-15T15:06:40Z.
EPOCH = 1_750_000_000.0
#: The longest a test waits (in real time) for the loop to reach a horizon.
REAL_TIMEOUT_SECONDS = 60.0

_Events = list[tuple[selectors.SelectorKey, int]]


class VirtualClock:
    """The virtual time of one event loop (``new_loop``), moved on by the test's thread."""

    def __init__(self, epoch: float = EPOCH) -> None:
        self.epoch = epoch
        self._changed = threading.Condition()
        self._now = 0.0
        self._horizon = 0.0
        self._parked_at: float | None = None  # the horizon the loop last waited at
        self._real_io = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the clocks --------------------------------------------------------------------------

    def monotonic(self) -> float:
        """Virtual seconds since the clock was made (the loop's own ``time()``)."""
        return self._now

    def time(self) -> float:
        """The virtual wall clock, seconds since the Unix epoch."""
        return self.epoch + self._now

    def now(self) -> datetime:
        """The virtual wall clock as a UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    def datetime_class(self) -> type[datetime]:
        """A ``datetime`` whose ``now()`` is the virtual wall clock."""
        clock = self

        class VirtualDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.fromtimestamp(clock.time(), tz)

        return VirtualDatetime

    # --- the loop ----------------------------------------------------------------------------

    def new_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop that runs on this clock (one per clock)."""
        assert self._loop is None, "one loop per clock"
        loop = _VirtualLoop(self, _VirtualSelector(self))
        self._loop = loop
        return loop

    @contextmanager
    def real_io(self) -> Iterator[None]:
        """On the loop: while inside, virtual time passes as fast as real time does."""
        with self._changed:
            self._real_io += 1
        try:
            yield
        finally:
            with self._changed:
                self._real_io -= 1

    def hold_up(self, seconds: float) -> None:
        """On the loop: what code that blocks the loop for ``seconds`` does to its clock."""
        with self._changed:
            self._now += seconds

    # --- the test's thread -------------------------------------------------------------------

    def run_until(self, seconds: float, *, settle: bool = True) -> None:
        """Let the loop run every timer due until virtual ``seconds``, and return once it waits
        there with nothing left to do (with ``settle=False``: even if real I/O is still on its
        way, e.g. a request to a server that never answers)."""
        loop = self._loop
        assert loop is not None, "the loop has not been made yet"
        with self._changed:
            assert seconds >= self._now, f"virtual time is already at {self._now} s"
            self._horizon = seconds
            self._parked_at = None
        loop.call_soon_threadsafe(_nothing)  # wakes it if it waits at the old horizon

        def there() -> bool:
            return self._parked_at == seconds and (not settle or self._real_io == 0)

        with self._changed:
            if not self._changed.wait_for(there, REAL_TIMEOUT_SECONDS):
                raise AssertionError(
                    f"the loop did not settle at {seconds} s of virtual time within "
                    f"{REAL_TIMEOUT_SECONDS} s: at {self._now} s, {self._real_io} real I/O"
                )

    def release(self) -> None:
        """Take the horizon away (before a stop, whose grace time must be able to pass). The
        loop goes on when it wakes for what the test asks next, e.g. ``ProbeScheduler.stop``."""
        with self._changed:
            self._horizon = math.inf

    # --- called by the selector --------------------------------------------------------------

    def _select(
        self, real_select: Callable[[float | None], _Events], timeout: float | None
    ) -> _Events:
        ready = real_select(0)
        if ready or timeout == 0:
            return ready
        # Nothing to do before the next timer (``timeout`` away; None: no timer at all).
        with self._changed:
            deadline = math.inf if timeout is None else self._now + timeout
            stop = min(deadline, self._horizon)
            tracking = self._real_io > 0 and stop > self._now
            if tracking:
                # Real I/O on its way: wait for it in real time, up to the timer or horizon.
                wait = None if math.isinf(stop) else stop - self._now
            elif not self._real_io and deadline <= self._horizon:
                self._now = deadline  # straight to the timer
                return []
            else:
                # At the horizon: wait (in real time) for the test, or for the I/O.
                if not self._real_io and math.isfinite(self._horizon):
                    self._now = max(self._now, self._horizon)
                self._parked_at = self._horizon
                self._changed.notify_all()
                wait = None
        began = time.monotonic()
        ready = real_select(wait)
        if tracking:
            with self._changed:
                self._now = min(self._now + (time.monotonic() - began), stop)
        return ready


def _nothing() -> None:
    pass


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> _Events:
        return self._clock._select(super().select, timeout)


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock, selector: selectors.BaseSelector) -> None:
        super().__init__(selector)
        self._virtual_clock = clock

    def time(self) -> float:
        return self._virtual_clock.monotonic()
