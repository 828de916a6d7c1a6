"""TTFT overhead: what the monitor's measurement adds to the true time to first token.

The simulator runs in its own process and records when it wrote the first content chunk;
``perf_counter_ns`` is CLOCK_MONOTONIC on Linux, one clock for both processes. The true TTFT of
a probe is therefore ``simulator wrote first content − probe wrote the request``, and the error
of the measured TTFT is ``probe stamped the first content's arrival − simulator wrote it``:
loopback transit plus any delay of the probing event loop.

The table also shows how late the simulator saw each request (``simulator read its first byte
− probe wrote it``). It is not part of the error, but it is why the simulator's own
``ttft_seconds`` (send − receive, on its side) is not the truth under load: a burst of new
connections waits in the kernel's accept queue before the simulator's loop reads them.

    python -m bench ttft_overhead [--quick] [--rounds-single 200] [--rounds-concurrent 20]
        [--json PATH]
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import httpx
import yaml

from bench.common import parser, write_json
from bench.simproc import simulator_process, truth
from monitor.config import Endpoint, parse_config
from monitor.core.result import ProbeResult
from monitor.probing.interpret import StreamState
from monitor.probing.runner import ProbeRunner
from monitor.probing.transport import WireTiming

KEY = "bench-key-0123456789"


def _endpoints(base: str, count: int) -> tuple[Endpoint, ...]:
    raw = {
        "probe": {"timeout": "10s", "interval": "60s", "max_tokens": 40},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {
                "id": f"e{i}",
                "model": "gpt-4.1-nano",
                "provider": "openai",
                "base_url": f"{base}/sim/v1",
                "api_key_env": "BENCH_KEY",
            }
            for i in range(count)
        ],
    }
    return parse_config(yaml.safe_dump(raw), environ={"BENCH_KEY": KEY}).endpoints


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


async def _measure(base: str, concurrency: int, rounds: int) -> dict[str, Any]:
    endpoints = _endpoints(base, concurrency)
    request_written: dict[str, int] = {}

    def observe(result: ProbeResult, timing: WireTiming, _state: StreamState) -> None:
        if timing.request_started_ns is not None:
            request_written[result.probe_id] = timing.request_started_ns

    runner = ProbeRunner(observer=observe)
    errors_ms: list[float] = []
    seen_late_ms: list[float] = []
    speed_errors: list[float] = []
    with httpx.Client(timeout=10) as admin:
        try:
            for _ in range(rounds):
                results = await asyncio.gather(*(runner.probe(e) for e in endpoints))
                for result in results:
                    if not result.ok or result.provider_request_id is None:
                        raise RuntimeError(f"probe failed: {result.outcome} {result.error}")
                    sent = truth(admin, base, result.provider_request_id)
                    assert result.ttft_seconds is not None
                    start = request_written[result.probe_id]
                    true_ttft_ns = sent["first_content_sent_ns"] - start
                    errors_ms.append((result.ttft_seconds * 1e9 - true_ttft_ns) / 1e6)
                    seen_late_ms.append((sent["received_ns"] - start) / 1e6)
                    measured, real = (
                        result.output_tokens_per_second,
                        sent["output_tokens_per_second"],
                    )
                    if measured and real:
                        speed_errors.append(abs(measured / real - 1) * 100)
        finally:
            await runner.aclose()
    return {
        "concurrent_probes": concurrency,
        "samples": len(errors_ms),
        "ttft_error_ms_median": statistics.median(errors_ms),
        "ttft_error_ms_p95": _quantile(errors_ms, 0.95),
        "ttft_error_ms_p99": _quantile(errors_ms, 0.99),
        "ttft_error_ms_max": max(errors_ms),
        "request_seen_late_ms_median": statistics.median(seen_late_ms),
        "request_seen_late_ms_p95": _quantile(seen_late_ms, 0.95),
        "speed_error_pct_median": statistics.median(speed_errors),
        "speed_error_pct_p95": _quantile(speed_errors, 0.95),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write the JSON with --json PATH)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--rounds-single", type=int, default=None, help="default 200")
    args_parser.add_argument("--rounds-concurrent", type=int, default=None, help="default 20")
    args = args_parser.parse_args(argv)
    single = args.rounds_single or (50 if args.quick else 200)
    concurrent = args.rounds_concurrent or (5 if args.quick else 20)
    sim = [{"id": "sim", "api_key": KEY, "ttft": {"median": "200ms", "spread": 0.3},
            "tokens_per_second": {"median": 100, "spread": 0.2}}]  # fmt: skip
    with simulator_process(sim) as base:
        rows = [
            asyncio.run(_measure(base, 1, single)),
            asyncio.run(_measure(base, 50, concurrent)),
        ]
    write_json(args.json, "ttft_overhead", args, rows)
    print("TTFT error = measured TTFT - true TTFT (simulator's first-content write - probe's")
    print("request write, one clock); request seen late = simulator's first read - probe's write")
    print(
        f"{'concurrent':>10} {'samples':>8} | {'TTFT error ms: p50':>18} {'p95':>7} {'p99':>7}"
        f" {'max':>7} | {'request seen late ms: p50':>25} {'p95':>7} |"
        f" {'speed error %: p50':>18} {'p95':>6}"
    )
    for row in rows:
        print(
            f"{row['concurrent_probes']:>10} {row['samples']:>8} |"
            f" {row['ttft_error_ms_median']:>18.3f} {row['ttft_error_ms_p95']:>7.3f}"
            f" {row['ttft_error_ms_p99']:>7.3f} {row['ttft_error_ms_max']:>7.3f} |"
            f" {row['request_seen_late_ms_median']:>25.3f}"
            f" {row['request_seen_late_ms_p95']:>7.3f} |"
            f" {row['speed_error_pct_median']:>18.3f} {row['speed_error_pct_p95']:>6.3f}"
        )


if __name__ == "__main__":
    main()
