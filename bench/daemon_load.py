"""CPU, memory, scrape time and TTFT error of ``llm-monitor run`` probing N endpoints every T
seconds (simulator in its own process), as a user runs it.

    python -m bench daemon_load --endpoints 5000 --interval 60s --seconds 120 [--json PATH]

The daemon runs as ``llm-monitor run`` (its main process and its measuring process) with a
SQLite store in a temporary directory; ``/metrics`` is scraped every ``--scrape-every`` seconds
with Prometheus' Accept header, as Prometheus does, and each scrape is timed (whole response)
by a Python client (httpx, the default) or by ``curl`` (``--scraper curl``, timed by curl's own
``time_total``, connection to last byte), which reads the body without parsing it in Python on
the same two cores, closer to what Prometheus' Go client costs the machine, and writes it to a
file in memory (/dev/shm where there is one), not on disk.
For each scrape the bench also reports the daemon's main process's CPU time while it was made,
how busy all cores were meanwhile (from /proc/stat), and the second of the minute it began at
(the window job runs once a minute here, the settle time past it).
CPU is read from /proc (user + system time of both processes) over the measured span, after a
warm-up of one interval; RSS (the sum of both) is sampled every second (peak and last). The TTFT
error of every probe started in the span is its ``ttft_seconds`` minus the simulator's truth
(first token sent − request read, on the same monotonic clock): it includes the time the
request took to reach the simulator and the simulator's own lateness in reading it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.common import parser, summary, write_json
from bench.simproc import free_port, simulator_process, truths
from monitor.core.durations import parse_duration
from monitor.store import open_store

#: What Prometheus 2.x sends.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

KEY = "bench-key-0123456789"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _family(pid: int) -> list[int]:
    """The daemon's process and its children (the measuring process)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():  # a child belongs to the thread that made it
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return [pid, *children]


def _mapped_mb(pid: int) -> dict[str, float]:
    """Resident MB of a process by kind of mapping: glibc's main heap, other anonymous memory
    (its other arenas, CPython's object arenas, large blocks) and the rest (files, stacks)."""
    kinds = {"heap": 0.0, "anonymous": 0.0, "other": 0.0}
    kind = "other"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(
            ":"
        ):  # a mapping's first line: range perms offset dev inode [path]
            path = fields[5] if len(fields) > 5 else ""
            kind = "heap" if path == "[heap]" else "anonymous" if not path else "other"
        elif fields[0] == "Rss:":
            kinds[kind] += int(fields[1]) / 1024
    return {k: round(v, 1) for k, v in kinds.items()}


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


def _self_metrics(text: str) -> dict[str, float]:
    """The probe counts and the loop lag in a scrape's text (either format), by a line scan
    that costs the machine little next to a parser."""
    out: dict[str, float] = {"probes": 0.0, "failed": 0.0, "missed": 0.0}
    for line in text.splitlines():
        if line.startswith("llm_monitor_probes_total{"):
            value = float(line.rsplit(" ", 1)[1])
            out["probes"] += value
            if 'outcome="success"' not in line:
                out["failed"] += value
        elif line.startswith("llm_monitor_scheduler_missed_runs_total{"):
            out["missed"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("llm_monitor_event_loop_lag_seconds"):
            out["loop_lag_s"] = float(line.rsplit(" ", 1)[1])
    return out


#: The clients that can time a scrape.
SCRAPERS = ("httpx", "curl")


def _in_memory_dir() -> str | None:
    """A directory kept in memory (Linux's /dev/shm) if there is a writable one, else None
    (the default temporary directory)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _machine_ticks() -> tuple[int, int]:
    """CPU time of all cores since boot, in clock ticks: (all of it, idle or waiting for I/O)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


class _Load:
    """What the machine and the daemon's main process did while a scrape was made: the main
    process's CPU time in ms and how busy all cores were (% of their time)."""

    def __init__(self, pid: int | None) -> None:
        self._pid = pid
        self._machine = _machine_ticks()
        self._cpu = _cpu_seconds(pid) if pid is not None else 0.0
        self.main_cpu_ms = 0.0
        self.busy_percent = 0.0

    def stop(self) -> None:
        """Read the counters again (before the body is read by this process)."""
        total, idle = (
            now - then for now, then in zip(_machine_ticks(), self._machine, strict=True)
        )
        self.busy_percent = 100.0 * (total - idle) / total if total else 0.0
        if self._pid is not None:
            self.main_cpu_ms = 1000.0 * (_cpu_seconds(self._pid) - self._cpu)


def _scrape(url: str, scraper: str = "httpx", pid: int | None = None) -> tuple[float, str, _Load]:
    """One scrape as Prometheus makes it: its time (whole response), its text, and the load
    meanwhile (of the daemon's main process ``pid``)."""
    if scraper == "curl":
        # curl's own time (connection to last byte), not its start-up or this process's
        # reading of its output: what any scraper that reads as fast as it can would see. The
        # body goes to a file in memory (as Prometheus keeps it), not on disk: writing 90 MB
        # to disk added 25-145 ms to the median scrape on machine C (docs/benchmarks.md).
        with tempfile.NamedTemporaryFile(suffix=".txt", dir=_in_memory_dir()) as body:
            command = ["curl", "-sS", "--fail", "-H", f"Accept: {PROMETHEUS_ACCEPT}",
                       "-o", body.name, "-w", "%{time_total}"]  # fmt: skip
            load = _Load(pid)
            done = subprocess.run([*command, f"{url}/metrics"], capture_output=True, check=True)
            load.stop()
            return float(done.stdout), Path(body.name).read_text(encoding="utf-8"), load
    load = _Load(pid)
    began = time.perf_counter()
    with httpx.stream(
        "GET", f"{url}/metrics", headers={"accept": PROMETHEUS_ACCEPT}, timeout=30
    ) as response:
        body = b"".join(response.iter_bytes())
    took = time.perf_counter() - began
    load.stop()
    return took, body.decode(), load


def measure(
    endpoints: int,
    interval: float,
    seconds: float,
    scrape_every: float = 15.0,
    scraper: str = "httpx",
) -> dict[str, Any]:
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
            family = _family(daemon.pid)
            rss_start = [_rss_mb(pid) for pid in family]
            peak = 0.0
            start_cpu, start_wall = sum(map(_cpu_seconds, family)), time.monotonic()
            since = datetime.now(UTC)
            took, text, load = _scrape(url, scraper, daemon.pid)
            scrapes, loads, before = [took], [load], _self_metrics(text)
            # Where in its minute each scrape began: the window job runs once a minute here
            # (rollup.window 60s), ``settle`` seconds past the minute.
            into_minute = [time.time() % 60 - took]
            peaks = [0.0] * len(family)
            lags = before.get("loop_lag_s", 0.0)
            next_scrape = start_wall + scrape_every
            while time.monotonic() - start_wall < seconds:
                time.sleep(1)
                rss = [_rss_mb(pid) for pid in family]
                peaks = [max(p, r) for p, r in zip(peaks, rss, strict=True)]
                peak = max(peak, sum(rss))
                if time.monotonic() >= next_scrape:
                    took, text, load = _scrape(url, scraper, daemon.pid)
                    scrapes.append(took)
                    loads.append(load)
                    into_minute.append(time.time() % 60 - took)
                    lags = max(lags, _self_metrics(text).get("loop_lag_s", 0.0))
                    next_scrape += scrape_every
            cpu = sum(map(_cpu_seconds, family)) - start_cpu
            wall = time.monotonic() - start_wall
            until = datetime.now(UTC)
            after = _self_metrics(_scrape(url)[1])
            rss = [_rss_mb(pid) for pid in family]
            mapped = _mapped_mb(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(30)
        errors, sources = _ttft_errors(tmp, base, since, until)
    probes = after["probes"] - before["probes"]
    parts = {name: summary(values) for name, values in errors.items()}
    return {
        "endpoints": endpoints,
        "interval_s": interval,
        "seconds": round(wall, 1),
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "rss_mb_peak": round(peak, 1),
        "rss_mb_peak_each": [round(p, 1) for p in peaks],
        "rss_mb_end": round(sum(rss), 1),
        "rss_mb_start_each": [round(r, 1) for r in rss_start],
        "rss_mb_end_each": [round(r, 1) for r in rss],
        "main_process_mb_by_mapping": mapped,
        "probes_per_s": round(probes / wall, 2),
        "expected_probes_per_s": round(endpoints / interval, 2),
        "failed_probes": int(after["failed"] - before["failed"]),
        "missed_runs": int(after["missed"] - before["missed"]),
        "max_event_loop_lag_ms": round(lags * 1000, 2),
        "processes": len(family),
        "scraper": scraper,
        "scrapes": len(scrapes),
        "scrape_ms_p50": round(1000 * sorted(scrapes)[len(scrapes) // 2], 1) if scrapes else None,
        "scrape_ms_max": round(1000 * max(scrapes), 1) if scrapes else None,
        "scrape_ms_each": [round(1000 * took, 1) for took in scrapes],
        # The daemon's main process's CPU during each scrape, all cores' busy share meanwhile
        # (curl's start included), and the second of the minute each scrape began at.
        "scrape_main_cpu_ms_each": [round(load.main_cpu_ms) for load in loads],
        "scrape_machine_busy_percent_each": [round(load.busy_percent) for load in loads],
        "scrape_second_of_minute_each": [round(second % 60, 1) for second in into_minute],
        "ttft_error_ms_n": parts["total"]["n"],
        **{
            f"{name}_ms_{k}": round(float(part[k] or 0), 2)
            for name, part in (
                ("ttft_error", parts["total"]),
                ("request_part", parts["request"]),
                ("arrival_part", parts["arrival"]),
            )
            for k in ("p50", "p95", "p99", "max")
        },
        "stamp_sources": sources,
        "exit_code": daemon.returncode,
    }


def _ttft_errors(
    tmp: Path, base: str, since: datetime, until: datetime
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Each successful probe's TTFT minus the simulator's truth, in ms, and its two parts; the
    stamp sources.

    The parts need the probe's request start on the monotonic clock: its ``started_at`` (wall
    clock, microseconds) minus the wall clock's offset from the monotonic one, the same in every
    process of this machine (read here, after the run; NTP slews it by well under a millisecond
    in a run). ``request`` = the simulator reading the request − request start: the way there
    and the simulator's own lateness, which a real provider's TTFT includes too. ``arrival`` =
    the monitor's arrival of the first token − the simulator's write of it: the way back and
    the monitor's own lateness, the part this benchmark is about.
    """
    store = open_store(f"sqlite:///{tmp / 'bench.db'}")
    try:
        stored = store.probes(since=since, until=until)
    finally:
        store.close()
    sources: dict[str, int] = {}
    for result in stored:
        key = getattr(result, "stamp_source", None) or "none"
        sources[key] = sources.get(key, 0) + 1
    chosen = [r for r in stored if r.ok and r.provider_request_id and r.ttft_seconds is not None]
    truth = truths({r.provider_request_id: base for r in chosen if r.provider_request_id})
    offset_ns = time.time_ns() - time.perf_counter_ns()
    errors: dict[str, list[float]] = {"total": [], "request": [], "arrival": []}
    for result in chosen:
        sent = truth.get(result.provider_request_id or "")
        if sent is None or sent.get("ttft_seconds") is None or result.ttft_seconds is None:
            continue
        errors["total"].append((result.ttft_seconds - sent["ttft_seconds"]) * 1000)
        start_ns = round(result.started_at.timestamp() * 1e6) * 1000 - offset_ns
        errors["request"].append((sent["received_ns"] - start_ns) / 1e6)
        arrival_ns = start_ns + result.ttft_seconds * 1e9
        errors["arrival"].append((arrival_ns - sent["first_content_sent_ns"]) / 1e6)
    return errors, sources


def main(argv: list[str] | None = None) -> None:
    """Print the table (and JSON with --json)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--endpoints", type=int, default=100)
    args_parser.add_argument("--interval", default="10s")
    args_parser.add_argument("--seconds", type=float, default=None, help="default 120 (quick 30)")
    args_parser.add_argument("--scrape-every", type=float, default=15.0)
    args_parser.add_argument("--scraper", choices=SCRAPERS, default="httpx")
    args = args_parser.parse_args(argv)
    seconds = args.seconds or (30.0 if args.quick else 120.0)
    row = measure(
        args.endpoints, parse_duration(args.interval), seconds, args.scrape_every, args.scraper
    )
    write_json(args.json, "daemon_load", args, row)
    width = max(len(k) for k in row)
    for key, value in row.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
