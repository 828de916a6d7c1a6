"""The daemon with its HTTP server, as ``llm-monitor run`` (and the demo) runs it: the server on
the main thread's event loop, the daemon's own threads beside it, SIGTERM/SIGINT to stop and
SIGHUP to reload the config, and the report files of each finished window when configured."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

import structlog
import uvicorn

from monitor.api.app import create_app
from monitor.config import Config
from monitor.core.errors import MonitorError
from monitor.reports.files import write_window_report
from monitor.service.aggregator import Snapshot
from monitor.service.daemon import Daemon
from monitor.service.logs import configure_logging
from monitor.service.memory import limit_arenas

log = structlog.get_logger("llm_monitor")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or a MonitorError that says which address could not be used."""
    try:
        sock = socket.create_server((host, port), reuse_port=False, backlog=1024)
    except OSError as exc:
        raise MonitorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # asyncio turns Nagle's algorithm off only on sockets made with proto IPPROTO_TCP, which
    # create_server's are not: a small response after the first on a kept-alive connection
    # (Prometheus, browsers, the pages' refresh) then waited ~40 ms for the client's delayed
    # ACK (docs/benchmarks.md, Pages). Accepted connections inherit the listener's option.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def serve(
    daemon: Daemon,
    sock: socket.socket,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Serve HTTP on ``sock`` and run ``daemon`` until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        task = asyncio.create_task(asyncio.to_thread(daemon.reload_from_file))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig, handler in ((signal.SIGTERM, stop.set), (signal.SIGINT, stop.set),
                         (signal.SIGHUP, reload)):  # fmt: skip
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, handler)
            handled.append(sig)
    server = _Server(
        uvicorn.Config(
            create_app(daemon), log_config=None, access_log=False, lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )  # fmt: skip
    try:
        await asyncio.to_thread(daemon.start)
    except BaseException:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await asyncio.to_thread(daemon.stop)
        raise
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}"
    log.info("listening", url=url)
    if on_ready is not None:
        on_ready(url)
    try:
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        log.info("shutting down")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await asyncio.to_thread(daemon.stop)
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


def run(config: Config) -> int:
    """``llm-monitor run``: the daemon until SIGTERM/SIGINT; returns the exit code."""
    settings = config.schema
    limit_arenas()  # before any thread: see monitor.service.memory
    configure_logging(settings.logging.level, settings.logging.format)
    sock = listen(settings.server.host, settings.server.port)
    report_writer: Callable[[Snapshot], None] | None = None
    daemon: Daemon
    if settings.reports.directory is not None:
        directory = settings.reports.directory

        def report_writer(snapshot: Snapshot) -> None:
            try:
                write_window_report(directory, snapshot, config, daemon.store)
            except Exception as exc:  # a full disk must not stop the rollups
                log.error("report not written", directory=str(directory), error=str(exc))

    daemon = Daemon(config, report_writer=report_writer, measuring_process=True)
    try:
        asyncio.run(serve(daemon, sock))
    finally:
        sock.close()
    return 0
