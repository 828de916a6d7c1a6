"""The measuring process: the probe scheduler in a process of its own (see
docs/architecture.md#processes-and-threads-of-the-daemon).

Everything but measuring (the HTTP API, pages and ``/metrics``, the store's writes, rollups,
incidents, leases) runs in the daemon's main process. Its threads share one interpreter lock and
one heap: a scrape rendering thousands of series, or a full garbage collection of a heap of
hundreds of megabytes (50-130 ms at 5,000 endpoints), stops every thread, the measuring loop's
included. So ``llm-monitor run`` starts ``python -m monitor.service.measuring``, a child process
whose only work is :class:`~monitor.service.scheduler.ProbeScheduler` (the scheduler, the probes,
their sockets), with a heap of its own.

The two talk over two pipes with pickled messages (``multiprocessing.connection``):

- to the child: ``("hello", agent, log level, log format)``, then ``("endpoints", endpoints)``
  (the first starts probing; each later one replaces the set, as a reload does) and
  ``("stop", grace seconds)``;
- to the main process: lists of messages, in order: ``("ready",)``, ``("ack",)``,
  ``("result", ProbeResult)`` and the scheduler's other events (``missed``, ``lag``,
  ``delay``, ``skipped``, ``jump``), and ``("stopped",)`` after the last result.

The measuring thread never writes to the pipe itself: it hands messages to a sender thread, so
a busy main process cannot make it wait. The sender holds an event for a tenth of a second and
sends it with those that came meanwhile (``GATHERED``), so the main process's threads wake
about ten times a second rather than for each of hundreds of events.

If the child exits on its own, the main process logs it (``measuring process exited``), reports
itself not ready, and starts a new one with the current endpoints a second later. If the main
process dies, the child reads the end of its pipe and stops at once (``main process gone``):
there is nobody left to take its results. SIGINT and SIGTERM are for the main process, which
stops the child cleanly: the child ignores them.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # The measuring process draws no tables and no rich tracebacks, yet structlog and httpx
    # import rich when it is installed (the CLI's table library): 4 MB of this process's RSS.
    # A module set to None cannot be imported, so they go without it.
    sys.modules.setdefault("rich", None)  # type: ignore[arg-type]

import gc
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import structlog

from monitor.config import Endpoint
from monitor.core.agent import AgentIdentity
from monitor.core.result import ProbeResult
from monitor.service.memory import limit_arenas

log = structlog.get_logger("llm_monitor.measuring")

#: How long the main process waits for a new measuring process to say it is ready.
START_TIMEOUT_SECONDS = 60.0
#: Events the child's sender holds for ``GATHER_SECONDS`` so that those of the next moments
#: travel with them: at 5,000 endpoints every 60 s there are about 170 a second (a result and
#: a start delay per probe), and each message woke the main process's reader, its sink and
#: store writer threads, and each wake-up took the interpreter lock from whatever ran there,
#: a ``/metrics`` scrape among them. Answers (``ready``, ``ack``, ``stopped``) go at once.
GATHERED = frozenset({"result", "delay", "lag", "missed", "skipped", "jump"})
GATHER_SECONDS = 0.1
#: How long after an unexpected exit a new measuring process is started.
RESTART_DELAY_SECONDS = 1.0


class MeasuringProcess:
    """A :class:`~monitor.service.scheduler.ProbeScheduler` in a child process, with the same
    life cycle and callbacks; the callbacks run on a reader thread of this process."""

    def __init__(
        self,
        agent: AgentIdentity,
        on_result: Callable[[ProbeResult], None],
        *,
        on_missed: Callable[[str, int], None] = lambda endpoint, count: None,
        on_lag: Callable[[float], None] = lambda seconds: None,
        on_delay: Callable[[str, float], None] = lambda endpoint, seconds: None,
        on_skipped: Callable[[str, str], None] = lambda endpoint, reason: None,
        on_clock_jump: Callable[[float], None] = lambda seconds: None,
        log_level: str = "info",
        log_format: str = "auto",
        restart_delay: float = RESTART_DELAY_SECONDS,
    ) -> None:
        self._agent = agent
        self._handlers: dict[str, Callable[..., None]] = {
            "result": on_result,
            "missed": on_missed,
            "lag": on_lag,
            "delay": on_delay,
            "skipped": on_skipped,
            "jump": on_clock_jump,
        }
        self._log = (log_level, log_format)
        self._restart_delay = restart_delay
        self._endpoints: tuple[Endpoint, ...] = ()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._outbox: Connection | None = None
        self._ready = threading.Event()
        self._ack = threading.Event()
        self._stopped = threading.Event()
        #: Set once the current measuring process has exited and been reaped.
        self._exited = threading.Event()
        self._stopping = False
        #: A measuring process has been ready once: one that never gets there is not restarted.
        self._ever_ready = False
        #: Unexpected exits of the measuring process so far.
        self.restarts = 0

    # --- life cycle ---------------------------------------------------------------------------

    def start(self, endpoints: Sequence[Endpoint]) -> None:
        """Start the measuring process and schedule every endpoint; raise RuntimeError if it
        does not start."""
        self._endpoints = tuple(endpoints)
        self._spawn()
        if not self._ready.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError(f"the measuring process did not start: {self._exit_text()}")

    @property
    def running(self) -> bool:
        """Whether the measuring process is up and scheduling."""
        process = self._process
        return (
            self._ready.is_set()
            and not self._stopping
            and process is not None
            and process.poll() is None
        )

    @property
    def pid(self) -> int | None:
        """The measuring process's id, while there is one."""
        return self._process.pid if self._process is not None else None

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        """Replace the scheduled endpoints (a restart uses the newest set)."""
        with self._lock:
            self._endpoints = tuple(endpoints)
            self._ack.clear()
            if not self._send(("endpoints", self._endpoints)):
                return  # exited: the restart takes the new set
        self._ack.wait(30.0)

    def stop(self, grace_seconds: float) -> None:
        """Stop scheduling; the probes in flight get ``grace_seconds``; every result is handed
        over before this returns."""
        with self._lock:
            self._stopping = True
            sent = self._send(("stop", grace_seconds))
        process = self._process
        if process is None:
            return
        if sent:
            self._stopped.wait(grace_seconds + 30.0)
        # Not process.wait(timeout): its sleeps fail under a faked clock (libfaketime); the
        # reader thread reaps the process and says so.
        if not self._exited.wait(10.0):
            log.error("measuring process did not stop; killed", pid=process.pid)
            process.kill()
            self._exited.wait(10.0)

    # --- the child ----------------------------------------------------------------------------

    def _spawn(self) -> None:
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        self._ready.clear()
        self._stopped.clear()
        self._exited.clear()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor.service.measuring",
                 str(to_child_read), str(from_child_write)],
                pass_fds=(to_child_read, from_child_write),
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's Ctrl-C is the main process's to handle
            )  # fmt: skip
        finally:
            os.close(to_child_read)
            os.close(from_child_write)
        outbox = Connection(to_child_write, readable=False)
        inbox = Connection(from_child_read, writable=False)
        with self._lock:
            self._process, self._outbox = process, outbox
            self._send(("hello", self._agent, *self._log))
            self._send(("endpoints", self._endpoints))
        reader = threading.Thread(
            target=self._read, args=(process, inbox), name="llm-monitor-measuring", daemon=True
        )
        reader.start()
        log.info("measuring process started", pid=process.pid)

    def _send(self, message: tuple[Any, ...]) -> bool:
        outbox = self._outbox
        if outbox is None:
            return False
        try:
            outbox.send(message)
        except OSError:  # it exited; the reader thread sees to it
            return False
        return True

    def _read(self, process: subprocess.Popen[bytes], inbox: Connection) -> None:
        try:
            while True:
                for message in inbox.recv():
                    self._handle(message)
        except (EOFError, OSError):
            pass
        finally:
            inbox.close()
        self._exited_after(process)

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        handler = self._handlers.get(kind)
        if handler is not None:
            try:
                handler(*message[1:])
            except Exception:
                log.exception("measuring event not handled", event=kind)
        elif kind == "ready":
            self._ever_ready = True
            self._ready.set()
        elif kind == "ack":
            self._ack.set()
        elif kind == "stopped":
            self._stopped.set()

    def _exited_after(self, process: subprocess.Popen[bytes]) -> None:
        """The child has closed its pipe: see to its exit, and start a new one unless the
        daemon is stopping."""
        code = process.wait()
        self._exited.set()
        with self._lock:
            if self._outbox is not None:
                self._outbox.close()
                self._outbox = None
            stopping = self._stopping
        self._ack.set()  # nobody waits for an answer that cannot come
        if stopping or not self._ever_ready:
            self._stopped.set()
            return
        self.restarts += 1
        log.error(
            "measuring process exited; starting a new one",
            pid=process.pid,
            code=code,
            restarts=self.restarts,
        )
        time.sleep(self._restart_delay)
        with self._lock:
            if self._stopping:
                return
        try:
            self._spawn()
        except OSError as exc:
            log.error("measuring process not started", error=str(exc))

    def _exit_text(self) -> str:
        process = self._process
        if process is None or process.poll() is None:
            return "no answer in time"
        return f"it exited with code {process.returncode}"


def main(argv: Sequence[str]) -> None:
    """The child: read the hello and the endpoints, probe, send results, stop when told or
    when the main process is gone."""
    from monitor.probing.runner import ProbeRunner
    from monitor.service.logs import configure_logging
    from monitor.service.scheduler import SWITCH_INTERVAL_SECONDS, ProbeScheduler

    limit_arenas()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    inbox = Connection(int(argv[0]), writable=False)
    outbox = Connection(int(argv[1]), readable=False)
    _hello, agent, level, fmt = inbox.recv()
    configure_logging(level, fmt)
    outgoing: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()

    # Waited on with a timeout and never set: unlike time.sleep, a timed lock wait keeps to
    # the monotonic clock under libfaketime too (the clock tests step the wall clock).
    gathering = threading.Event()

    def send_all() -> None:
        while (message := outgoing.get()) is not None:
            batch = [message]
            if message[0] in GATHERED:
                gathering.wait(GATHER_SECONDS)  # the next moments' events join this one
            last = False
            while True:  # everything queued by now goes in the same message
                try:
                    more = outgoing.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    last = True
                    break
                batch.append(more)
            try:
                outbox.send(batch)
            except OSError:  # the main process is gone; the main thread sees it too
                return
            if last:
                return

    sender = threading.Thread(target=send_all, name="llm-monitor-sender", daemon=True)
    sender.start()
    put = outgoing.put
    scheduler = ProbeScheduler(
        lambda: ProbeRunner(agent=agent),
        lambda result: put(("result", result)),
        on_missed=lambda endpoint, count: put(("missed", endpoint, count)),
        on_lag=lambda seconds: put(("lag", seconds)),
        on_delay=lambda endpoint, seconds: put(("delay", endpoint, seconds)),
        on_skipped=lambda endpoint, reason: put(("skipped", endpoint, reason)),
        on_clock_jump=lambda seconds: put(("jump", seconds)),
    )
    started = False
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            log.error("main process gone; the measuring process stops")
            if started:
                scheduler.stop(0.0)
            os._exit(1)
        if message[0] == "endpoints":
            if started:
                scheduler.set_endpoints(message[1])
                put(("ack",))
                continue
            scheduler.start(message[1])
            started = True
            # What start-up made lives for the whole run: out of the collector's full scans.
            gc.collect()
            gc.freeze()
            sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
            put(("ready",))
        elif message[0] == "stop":
            if started:
                scheduler.stop(float(message[1]))
            put(("stopped",))
            put(None)
            sender.join()
            outbox.close()
            return


if __name__ == "__main__":
    main(sys.argv[1:])
