"""CPU and memory of one daemon probing N endpoints every T seconds (simulator in its own
process), plus what the daemon reports of its own timing.

    python -m bench daemon_load --endpoints 100 --interval 10s --seconds 120 [--json PATH]

The daemon runs as ``llm-monitor run`` in a child process with a SQLite store in a temporary
directory. CPU is read from /proc (user + system time of the daemon's process) over the
measured span, after a warm-up of one interval; RSS is sampled every second (peak and last).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.common import parser, write_json
from bench.simproc import free_port, simulator_process
from monitor.core.durations import parse_duration

KEY = "bench-key-0123456789"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _rss_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE / 1e6


def _config(tmp: Path, base: str, endpoints: int, interval: float, port: int) -> Path:
    raw: dict[str, Any] = {
        "storage": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "server": {"port": port},
        "probe": {
            "interval": f"{interval}s", "timeout": f"{min(interval, 10.0)}s", "max_tokens": 40,
        },
        "rollup": {"window": "60s"},
        "logging": {"format": "json", "level": "warning"},
        "models": [{"id": "gpt-4.1-nano",
                    "pricing": {"input_per_million": 0.1, "output_per_million": 0.4}}],
        "endpoints": [
            {"id": f"e{i:05d}", "model": "gpt-4.1-nano", "provider": "openai",
             "base_url": f"{base}/sim/v1", "api_key_env": "BENCH_KEY"}
            for i in range(endpoints)
        ],
    }  # fmt: skip
    path = tmp / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _self_metrics(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    out: dict[str, float] = {"probes": 0.0, "failed": 0.0, "missed": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "llm_monitor_probes_total":
                out["probes"] += sample.value
                if sample.labels.get("outcome") != "success":
                    out["failed"] += sample.value
            elif sample.name == "llm_monitor_scheduler_missed_runs_total":
                out["missed"] += sample.value
            elif sample.name == "llm_monitor_event_loop_lag_seconds":
                out["loop_lag_s"] = sample.value
    return out


def measure(endpoints: int, interval: float, seconds: float) -> dict[str, Any]:
    """Run the daemon and return its numbers."""
    sim = [{"id": "sim", "api_key": KEY, "ttft": {"median": "300ms", "spread": 0.2},
            "tokens_per_second": {"median": 100, "spread": 0.2}}]  # fmt: skip
    with simulator_process(sim) as base, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        config = _config(tmp, base, endpoints, interval, port)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            env={**os.environ, "BENCH_KEY": KEY},
            stdout=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            time.sleep(interval + 1)  # warm-up: every endpoint has been probed once
            start_cpu, start_wall = _cpu_seconds(daemon.pid), time.monotonic()
            before = _self_metrics(url)
            peak = lags = 0.0
            while time.monotonic() - start_wall < seconds:
                time.sleep(1)
                peak = max(peak, _rss_mb(daemon.pid))
                lags = max(lags, _self_metrics(url).get("loop_lag_s", 0.0))
            cpu = _cpu_seconds(daemon.pid) - start_cpu
            wall = time.monotonic() - start_wall
            after = _self_metrics(url)
            rss = _rss_mb(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(30)
    probes = after["probes"] - before["probes"]
    return {
        "endpoints": endpoints,
        "interval_s": interval,
        "seconds": round(wall, 1),
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "rss_mb_peak": round(peak, 1),
        "rss_mb_end": round(rss, 1),
        "probes_per_s": round(probes / wall, 2),
        "expected_probes_per_s": round(endpoints / interval, 2),
        "failed_probes": int(after["failed"] - before["failed"]),
        "missed_runs": int(after["missed"] - before["missed"]),
        "max_event_loop_lag_ms": round(lags * 1000, 2),
        "exit_code": daemon.returncode,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the table (and JSON with --json)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--endpoints", type=int, default=100)
    args_parser.add_argument("--interval", default="10s")
    args_parser.add_argument("--seconds", type=float, default=None, help="default 120 (quick 30)")
    args = args_parser.parse_args(argv)
    seconds = args.seconds or (30.0 if args.quick else 120.0)
    row = measure(args.endpoints, parse_duration(args.interval), seconds)
    write_json(args.json, "daemon_load", args, row)
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
