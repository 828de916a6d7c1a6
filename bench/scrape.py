"""Scrape: how long ``GET /metrics`` takes and how big it is, by number of endpoints.

    python -m bench scrape [--quick] [--endpoints 100,1000,5000] [--prometheus-seconds S]

The registry is the daemon's own (a ``MetricsRegistry`` with ``ProbeMetrics`` and a
``LiveCollector``, built as ``monitor.service.daemon.Daemon`` builds it), with every endpoint
declared, 20 probes of each endpoint observed (successes, plus one failure of each kind of
outcome spread over the endpoints) and a published last window (a rollup per endpoint and the
model profile). Timed:

- rendering alone, prometheus_client's writers (given the registry's ``collect()``) against
  ``monitor.metrics.exposition`` (which the daemon serves; the bench checks both give the same
  bytes), in both formats;
- the whole request through the daemon's HTTP app (``monitor.api.app.create_app`` on uvicorn, on a
  real socket) as a client in another process sees it: ``curl``'s total time;
- what Prometheus itself records: Debian's ``prometheus`` scrapes the app every 5 s for
  ``--prometheus-seconds`` and the bench reads its ``scrape_duration_seconds`` (skipped, with a
  note, when the binary is missing).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from prometheus_client import exposition as exposition_module
from prometheus_client.openmetrics import exposition as openmetrics_module

from bench.common import Column, ms, parser, print_table, quantile, write_json
from bench.harness import config_text, load
from bench.simproc import free_port
from monitor.api.app import create_app
from monitor.config import Config
from monitor.core.outcomes import Outcome
from monitor.core.profile import model_live
from monitor.core.result import ProbeResult
from monitor.core.rollup import EndpointIdentity, ProbeRow, compute_rollup, window_start
from monitor.metrics import LiveCollector, LiveState, MetricsRegistry, ProbeMetrics, exposition
from monitor.service.aggregator import Snapshot

PROBES_PER_ENDPOINT = 20


def generate_latest(registry: MetricsRegistry) -> bytes:
    """prometheus_client's text exposition."""
    body: bytes = exposition_module.generate_latest(registry)
    return body


def generate_openmetrics(registry: MetricsRegistry) -> bytes:
    """prometheus_client's OpenMetrics exposition."""
    body: bytes = openmetrics_module.generate_latest(registry)  # type: ignore[no-untyped-call]
    return body


class _View:
    """The part of the daemon the HTTP app reads (a ``MonitorView``)."""

    def __init__(self, config: Config, registry: MetricsRegistry, snapshot: Snapshot) -> None:
        self.config = config
        self.registry = registry
        self._snapshot = snapshot
        self.store: Any = None

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def last_probes(self) -> dict[str, ProbeResult]:
        return {}

    def budget(self) -> None:
        return None

    def problems(self) -> list[str]:
        return []


def build(count: int) -> tuple[Config, MetricsRegistry, Snapshot]:
    """A daemon's registry after a while with ``count`` endpoints."""
    config = load(
        config_text(
            [(f"e{i:05d}", "http://127.0.0.1:1") for i in range(count)],
            interval=60,
            timeout=30,
            storage_url="sqlite://",
            port=9464,
        )
    )
    registry = MetricsRegistry()
    metrics = ProbeMetrics(registry)
    collector = LiveCollector()
    registry.register(collector)
    metrics.declare_endpoints(config.endpoints)
    rng = random.Random(1)
    now = datetime.now(UTC)
    window = window_start(now, 1800) - timedelta(seconds=1800)
    failures = [o for o in Outcome if o not in (Outcome.SUCCESS, Outcome.CANCELLED)]
    rollups = []
    for index, endpoint in enumerate(config.endpoints):
        rows = []
        for n in range(PROBES_PER_ENDPOINT):
            ok = n or index % 4
            outcome = Outcome.SUCCESS if ok else failures[index % len(failures)]
            ttft = rng.lognormvariate(-1.2, 0.3)
            speed = rng.lognormvariate(4.6, 0.2)
            result = ProbeResult(
                probe_id=uuid.uuid4().hex, endpoint=endpoint.id, provider=endpoint.provider,
                model=endpoint.model.id, api=endpoint.api, region=None, outcome=outcome,
                started_at=now, http_status=200, ttft_seconds=ttft if ok else None,
                total_seconds=ttft + 0.4, output_tokens=40 if ok else None, input_tokens=20,
                output_tokens_per_second=speed if ok else None,
                connect_seconds=0.001 if n == 0 else 0.0, connection_reused=n > 0,
                cost_usd=0.00002,
            )  # fmt: skip
            metrics.observe(result)
            rows.append(
                ProbeRow(
                    endpoint.id,
                    outcome,
                    result.ttft_seconds,
                    speed if ok else None,
                    ttft + 0.4,
                    40,
                    20,
                    0.00002,
                )
            )
        rollups.append(
            compute_rollup(
                EndpointIdentity(endpoint.id, endpoint.model.id, endpoint.provider, None),
                rows,
                window,
                1800,
                rate_limited_is_down=True,
                now=now,
            )
        )
    profiles = {
        model.id: model_live(
            model,
            config.endpoints,
            rollups,
            last_window_start=window,
            uptime_since=window,
            refreshed_at=now,
            last_probe_at={},
            rate_limited_is_down=True,
        )
        for model in config.models
    }
    collector.publish(LiveState(tuple(rollups), config.models, tuple(profiles.values())))
    snapshot = Snapshot(1800, window, tuple(rollups), profiles, now)
    return config, registry, snapshot


ACCEPT = {"text": "text/plain", "openmetrics": "application/openmetrics-text; version=1.0.0"}
SCRAPE_INTERVAL = 5
#: The first scrapes create every series in Prometheus's head block; the rest are steady state.
FIRST_SCRAPES = 2


async def _curl(url: str, accept: str) -> float:
    """Seconds ``curl`` (its own process) took for the whole request, connection included."""
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}", "-H", f"Accept: {accept}", url,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"curl {url} failed with exit code {process.returncode}")
    return float(out.decode())


async def _prometheus_scrapes(url: str, seconds: float) -> list[float] | None:
    """Debian's Prometheus scraping ``url`` for ``seconds``: its scrape_duration_seconds."""
    binary = shutil.which("prometheus")
    if binary is None or seconds <= 0:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmp:
        port = free_port()
        host_port = url.split("/")[2]
        config = {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL}s",
                       "scrape_timeout": f"{SCRAPE_INTERVAL}s"},
            "scrape_configs": [{"job_name": "monitor",
                                "static_configs": [{"targets": [host_port]}]}],
        }  # fmt: skip
        path = Path(tmp) / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            binary, f"--config.file={path}", f"--storage.tsdb.path={Path(tmp) / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await asyncio.sleep(seconds)
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(
                    f"http://127.0.0.1:{port}/api/v1/query",
                    params={"query": f'scrape_duration_seconds{{job="monitor"}}[{seconds:.0f}s]'},
                )
            result = response.json()["data"]["result"]
            return [float(value) for _t, value in result[0]["values"]] if result else []
        finally:
            process.terminate()
            await process.wait()


async def _served(
    config: Config,
    registry: MetricsRegistry,
    snapshot: Snapshot,
    runs: int,
    prometheus_seconds: float,
) -> tuple[dict[str, list[float]], list[float] | None]:
    """curl's times per format, then Prometheus's scrape durations, against the daemon's app."""
    app = create_app(_View(config, registry, snapshot))
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn has no event to wait on)
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/metrics"
    times: dict[str, list[float]] = {name: [] for name in ACCEPT}
    try:
        for name, header in ACCEPT.items():
            await _curl(url, header)  # warm: the first render fills the exposition's caches
            for _ in range(runs):
                times[name].append(await _curl(url, header))
        scrapes = await _prometheus_scrapes(url, prometheus_seconds)
    finally:
        server.should_exit = True
        await serving
        sock.close()
    return times, scrapes


OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def _median_ms(action: Any, runs: int) -> float | None:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return ms(quantile(times, 0.5))


def measure(count: int, runs: int, prometheus_seconds: float) -> dict[str, Any]:
    """Timings and sizes of one registry size."""
    config, registry, snapshot = build(count)
    body = generate_latest(registry)
    om = generate_openmetrics(registry)
    if exposition(registry)[0] != body or exposition(registry, OPENMETRICS)[0] != om:
        raise AssertionError("monitor.metrics.exposition differs from prometheus_client")
    times, scrapes = asyncio.run(_served(config, registry, snapshot, runs, prometheus_seconds))
    steady = scrapes[FIRST_SCRAPES:] if scrapes else []
    return {
        "endpoints": count,
        "series": sum(1 for line in body.splitlines() if line and not line.startswith(b"#")),
        "text_bytes": len(body),
        "openmetrics_bytes": len(om),
        "render_text_ms_p50": _median_ms(lambda: generate_latest(registry), runs),
        "render_openmetrics_ms_p50": _median_ms(lambda: generate_openmetrics(registry), runs),
        "fast_text_ms_p50": _median_ms(lambda: exposition(registry), runs),
        "fast_openmetrics_ms_p50": _median_ms(lambda: exposition(registry, OPENMETRICS), runs),
        "http_text_ms_p50": ms(quantile(times["text"], 0.5)),
        "http_openmetrics_ms_p50": ms(quantile(times["openmetrics"], 0.5)),
        "prometheus_scrapes": len(scrapes) if scrapes is not None else None,
        "prometheus_first_ms": ms(max(scrapes[:FIRST_SCRAPES])) if scrapes else None,
        "prometheus_ms_p50": ms(quantile(steady, 0.5)) if steady else None,
        "prometheus_ms_max": ms(max(steady)) if steady else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write the JSON)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--endpoints", default=None, help="comma-separated counts")
    args_parser.add_argument("--runs", type=int, default=None)
    args_parser.add_argument(
        "--prometheus-seconds", type=float, default=None,
        help="how long Prometheus scrapes each size (default 45, quick 30; 0 skips it)",
    )  # fmt: skip
    args = args_parser.parse_args(argv)
    counts = [
        int(x) for x in (args.endpoints or ("1000" if args.quick else "100,1000,5000")).split(",")
    ]
    runs = args.runs or (3 if args.quick else 5)
    seconds = args.prometheus_seconds
    if seconds is None:
        seconds = 30.0 if args.quick else 45.0
    rows = [measure(count, runs, seconds) for count in counts]
    print_table(
        f"GET /metrics (ms; target < 100 ms at 1,000 endpoints): render = the exposition alone "
        f"(median of {runs}), curl = the whole request from another process (median of {runs}), "
        f"Prometheus = its scrape_duration_seconds, one scrape every {SCRAPE_INTERVAL} s "
        f"(first = the slower of the first {FIRST_SCRAPES}, which create the series; p50 and "
        "max of the later ones)",
        [
            Column("endpoints", "endpoints", ","),
            Column("series", "samples", ","),
            Column("text_bytes", "bytes (text)", ","),
            Column("render_text_ms_p50", "render text: prometheus_client", ".1f"),
            Column("fast_text_ms_p50", "monitor.metrics", ".1f"),
            Column("render_openmetrics_ms_p50", "render OpenMetrics: prometheus_client", ".1f"),
            Column("fast_openmetrics_ms_p50", "monitor.metrics", ".1f"),
            Column("http_text_ms_p50", "curl text", ".1f"),
            Column("http_openmetrics_ms_p50", "curl OpenMetrics", ".1f"),
            Column("prometheus_scrapes", "Prometheus scrapes", ","),
            Column("prometheus_first_ms", "Prometheus first", ".1f"),
            Column("prometheus_ms_p50", "p50", ".1f"),
            Column("prometheus_ms_max", "max", ".1f"),
        ],
        rows,
    )
    write_json(args.json, "scrape", args, rows)


if __name__ == "__main__":
    main()
