"""The whole daemon in this process, instrumented: what ``llm-monitor run`` does, plus hooks.

``run_daemon`` builds ``monitor.service.daemon.Daemon`` (scheduler thread with its measuring
loop, sink thread with logs, metrics and SQLite writes, rollup jobs, the HTTP server on the main
thread) exactly as ``llm-monitor run`` does, with two additions that the product's own interfaces
allow:

- the scheduler is built with an ``on_delay`` callback (actual minus planned start of every run),
  which ``Daemon`` does not pass today;
- the runner is a ``ProbeRunner`` with an ``observer`` that keeps each probe's raw request-write
  stamp (``perf_counter_ns``, comparable with the simulator's stamps in another process), and
  the runner factory also starts a fine-grained event-loop lag sampler on the measuring loop.

Prometheus is imitated by a scrape of ``/metrics`` every ``scrape_every`` seconds, asking for
OpenMetrics as Prometheus does.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.common import cpu_seconds, peak_rss_mb, rss_mb
from bench.simproc import free_port, pid_of
from monitor.api.server import listen, serve
from monitor.config import Config, Endpoint, parse_config
from monitor.core.result import ProbeResult
from monitor.probing.interpret import StreamState
from monitor.probing.runner import ProbeRunner
from monitor.probing.transport import WireTiming
from monitor.service.daemon import Daemon
from monitor.service.logs import configure_logging
from monitor.service.scheduler import SWITCH_INTERVAL_SECONDS, ProbeScheduler

KEY = "bench-key-0123456789"
#: Every simulated endpoint: 300 ms TTFT and 100 tok/s (log-normal spread); the probes'
#: max_tokens of 40 cuts its count to 40 at 40 tokens (finish "length").
SIM_ENDPOINT: dict[str, Any] = {
    "id": "sim",
    "api_key": KEY,
    "ttft": {"median": "300ms", "spread": 0.3},
    "tokens_per_second": {"median": 100, "spread": 0.2},
}
#: The Accept header of Prometheus 2.x/3.x scrapes.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
#: How often the bench samples the measuring loop's lag (the product samples every 250 ms).
LAG_TICK = 0.1


def config_text(
    endpoints: list[tuple[str, str]],
    *,
    interval: float,
    timeout: float,
    storage_url: str,
    port: int,
    window: str = "30m",
    max_tokens: int = 40,
) -> str:
    """The YAML of a monitor config with these (id, base URL) endpoints (see ``sim_url``)."""
    raw: dict[str, Any] = {
        "storage": {"url": storage_url},
        "server": {"host": "127.0.0.1", "port": port},
        # No jitter: every run is planned on an exact grid, so the delay is pure lateness.
        "probe": {
            "interval": f"{interval}s",
            "timeout": f"{timeout}s",
            "jitter": 0,
            "max_tokens": max_tokens,
        },
        "rollup": {"window": window},
        "logging": {"format": "json", "level": "info"},
        "models": [
            {"id": "gpt-4.1-nano", "pricing": {"input_per_million": 0.1, "output_per_million": 0.4}}
        ],
        "endpoints": [
            {
                "id": endpoint_id,
                "model": "gpt-4.1-nano",
                "provider": "openai",
                "base_url": base_url,
                "api_key_env": "BENCH_KEY",
            }
            for endpoint_id, base_url in endpoints
        ],
    }
    return yaml.safe_dump(raw, sort_keys=False)


def load(text: str) -> Config:
    """Parse a bench config (the key comes from the bench, not the environment)."""
    return parse_config(text, environ={"BENCH_KEY": KEY})


@dataclass
class Recorder:
    """What the hooks saw; appended to from the measuring thread, read after the run."""

    results: list[ProbeResult] = field(default_factory=list)
    delays: list[tuple[float, str, float]] = field(default_factory=list)  # (monotonic, id, s)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, seconds)
    product_lag: list[float] = field(default_factory=list)
    request_written_ns: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def observe(self, result: ProbeResult, timing: WireTiming, _state: StreamState) -> None:
        """The runner's observer: keep the request-write stamp."""
        if timing.request_started_ns is not None:
            self.request_written_ns[result.probe_id] = timing.request_started_ns


async def _sample_lag(recorder: Recorder) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(LAG_TICK)
        now = time.perf_counter()
        recorder.lags.append((now, max(now - before - LAG_TICK, 0.0)))


@dataclass
class DaemonRun:
    """Numbers of one run of the in-process daemon over its measured span."""

    seconds: float
    cpu_seconds: float
    rss_mb_end: float
    rss_mb_peak: float
    missed_runs: float
    simulator_cpu_seconds: dict[str, float]
    scrapes: list[tuple[float, int]]  # (seconds, bytes)


def run_daemon(
    config: Config,
    recorder: Recorder,
    *,
    warmup: float,
    measure: float,
    runner_factory: Callable[[Recorder], ProbeRunner] | None = None,
    simulators: list[str] = (),  # type: ignore[assignment]
    scrape_every: float = 15.0,
    log_path: Path | None = None,
    on_measure_start: Callable[[], None] = lambda: None,
) -> DaemonRun:
    """Run the daemon for ``warmup + measure`` seconds; measure CPU and memory in the second
    part (``recorder.extra['measure_start']`` is its monotonic start)."""
    factory = runner_factory or (lambda rec: ProbeRunner(observer=rec.observe))

    def make_runner() -> ProbeRunner:
        # Called on the measuring loop, from the scheduler's own thread.
        runner = factory(recorder)
        recorder.extra["lag_task"] = asyncio.get_running_loop().create_task(_sample_lag(recorder))
        return runner

    with contextlib.ExitStack() as stack:
        if log_path is None:
            log_path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "daemon.log"
        log = stack.enter_context(open(log_path, "w", encoding="utf-8"))
        configure_logging("info", "json", stream=log)
        daemon = Daemon(config, runner_factory=make_runner)
        missed = [0.0]

        def on_missed(endpoint: str, count: int) -> None:
            missed[0] += count
            daemon.metrics.missed_runs.labels(endpoint).inc(count)

        def on_result(result: ProbeResult) -> None:
            recorder.results.append(result)
            daemon.sink.submit(result)

        def on_lag(seconds: float) -> None:
            recorder.product_lag.append(seconds)
            daemon.metrics.loop_lag.set(seconds)

        daemon.scheduler = ProbeScheduler(
            make_runner,
            on_result,
            on_missed=on_missed,
            on_lag=on_lag,
            on_delay=lambda endpoint, s: recorder.delays.append((time.perf_counter(), endpoint, s)),
        )
        settings = config.schema.server
        sock = listen(settings.host, settings.port)
        stack.callback(sock.close)
        previous = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        stack.callback(sys.setswitchinterval, previous)
        return asyncio.run(
            _drive(daemon, sock, recorder, warmup, measure, simulators, scrape_every, missed,
                   on_measure_start)
        )  # fmt: skip


async def _drive(
    daemon: Daemon,
    sock: Any,
    recorder: Recorder,
    warmup: float,
    measure: float,
    simulators: list[str],
    scrape_every: float,
    missed: list[float],
    on_measure_start: Callable[[], None],
) -> DaemonRun:
    stop = asyncio.Event()
    ready = asyncio.Event()
    serving = asyncio.create_task(serve(daemon, sock, stop=stop, on_ready=lambda url: ready.set()))
    url = "http://{}:{}".format(*sock.getsockname()[:2])
    waiting = asyncio.create_task(ready.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if serving.done():
        waiting.cancel()
        serving.result()
        raise RuntimeError("the daemon stopped before it was ready")
    scrapes: list[tuple[float, int]] = []
    sim_pids = {base: pid_of(base) for base in simulators}
    async with httpx.AsyncClient(timeout=30) as client:

        async def scrape() -> None:
            start = time.perf_counter()
            response = await client.get(f"{url}/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
            scrapes.append((time.perf_counter() - start, len(response.content)))

        deadline = time.perf_counter() + warmup
        while time.perf_counter() < deadline:
            await asyncio.sleep(min(scrape_every, max(deadline - time.perf_counter(), 0)))
            await scrape()
        scrapes.clear()
        start_cpu, start_wall = cpu_seconds(), time.perf_counter()
        sim_start = {b: cpu_seconds(p) for b, p in sim_pids.items() if p is not None}
        missed_before = missed[0]
        recorder.extra["measure_start"] = start_wall
        on_measure_start()
        peak = 0.0
        end = start_wall + measure
        next_scrape = start_wall + scrape_every
        while (now := time.perf_counter()) < end:
            await asyncio.sleep(max(min(1.0, end - now, next_scrape - now), 0))
            peak = max(peak, rss_mb())
            if time.perf_counter() >= next_scrape:
                next_scrape += scrape_every
                await scrape()
        wall = time.perf_counter() - start_wall
        cpu = cpu_seconds() - start_cpu
        sim_cpu = {b: cpu_seconds(sim_pids[b] or "self") - c for b, c in sim_start.items()}
        recorder.extra["measure_end"] = time.perf_counter()
        run = DaemonRun(
            seconds=wall,
            cpu_seconds=cpu,
            rss_mb_end=rss_mb(),
            rss_mb_peak=max(peak, peak_rss_mb()),
            missed_runs=missed[0] - missed_before,
            simulator_cpu_seconds=sim_cpu,
            scrapes=scrapes,
        )
    stop.set()
    await serving
    return run


def sim_url(base: str, sim_endpoint: str = "sim") -> str:
    """The monitor's ``base_url`` of a simulated OpenAI endpoint."""
    return f"{base}/{sim_endpoint}/v1"


def endpoints_for(
    prefix: str, count: int, bases: list[str], *, offset: int = 0
) -> list[tuple[str, str]]:
    """``count`` endpoints ``{prefix}{i:05d}`` on ``SIM_ENDPOINT``, round-robin over simulators."""
    return [(f"{prefix}{i:05d}", sim_url(bases[(i + offset) % len(bases)])) for i in range(count)]


def base_of(endpoint: Endpoint) -> str:
    """The simulator base URL an endpoint points at."""
    return endpoint.base_url.rsplit("/", 2)[0]


__all__ = [
    "KEY",
    "SIM_ENDPOINT",
    "DaemonRun",
    "Recorder",
    "base_of",
    "config_text",
    "endpoints_for",
    "free_port",
    "load",
    "run_daemon",
    "sim_url",
]
