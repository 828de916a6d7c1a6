"""Scale of one process: how many endpoints one daemon keeps on schedule on one core.

    python -m bench scale [--quick] [--interval 15s --endpoints 500,1000,2000] [--json PATH]

The whole daemon runs in this process (``bench.harness``: scheduler, runner, sink with logs,
metrics and SQLite writes, rollups, HTTP server scraped every 15 s), pinned to core 0 with the
simulators (``--simulators`` processes) pinned to core 1. For each interval the sizes are tried
in increasing order until one is not kept on schedule. Measured over the span after a warm-up:
CPU (% of one core), peak RSS, scheduling delay (actual − planned start of every run, from the
scheduler's ``on_delay``), event-loop lag (100 ms sampler on the measuring loop), missed runs
and the TTFT error of every probe against the simulator's truth.

*On schedule* means: no missed run, a p99 scheduling delay under 1 s and every probe a success.
Targets: 1,000 endpoints at 15 s with CPU < 50 % and RSS < 300 MB; 5,000 at 60 s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Column, parser, pin, print_table, split_cpus, summary, write_json
from bench.harness import (
    SIM_ENDPOINT,
    Recorder,
    base_of,
    config_text,
    endpoints_for,
    free_port,
    load,
    run_daemon,
)
from bench.simproc import simulator_processes, truths
from monitor.core.durations import parse_duration

FULL = {15.0: [500, 1000, 1500, 2000, 3000], 60.0: [2500, 5000, 7500, 10000]}
QUICK = {15.0: [1000], 60.0: [5000]}
MAX_DELAY_P99_MS = 1000.0


def trial(
    count: int,
    interval: float,
    bases: list[str],
    tmp: Path,
    quick: bool,
) -> dict[str, Any]:
    """Run ``count`` endpoints every ``interval`` seconds and measure."""
    endpoints = endpoints_for("p", count, bases)
    text = config_text(
        endpoints,
        interval=interval,
        timeout=min(10.0, interval),
        storage_url=f"sqlite:///{tmp / f'scale-{count}-{interval:g}.db'}",
        port=free_port(),
    )
    config = load(text)
    recorder = Recorder()
    warmup = 5.0 if quick else interval
    measure = (
        (30.0 if quick else 2 * interval) if interval < 60 else (40.0 if quick else interval * 2)
    )
    run = run_daemon(
        config,
        recorder,
        warmup=warmup,
        measure=measure,
        simulators=bases,
        log_path=tmp / f"scale-{count}-{interval:g}.log",
    )
    start, end = recorder.extra["measure_start"], recorder.extra["measure_end"]
    base = {e.id: base_of(e) for e in config.endpoints}
    chosen = [
        r
        for r in recorder.results
        if (w := recorder.request_written_ns.get(r.probe_id)) is not None and start <= w / 1e9 < end
    ]
    failed = sum(1 for r in chosen if not r.ok)
    truth = truths({r.provider_request_id: base[r.endpoint] for r in chosen
                    if r.ok and r.provider_request_id})  # fmt: skip
    errors, sim_late = [], []
    for result in chosen:
        sent = truth.get(result.provider_request_id or "")
        if sent is None or result.ttft_seconds is None:
            continue
        written = recorder.request_written_ns[result.probe_id]
        errors.append((result.ttft_seconds * 1e9 - (sent["first_content_sent_ns"] - written)) / 1e6)
        planned = sent["planned_ttft_seconds"] or 0.0
        sim_late.append(
            ((sent["first_content_sent_ns"] - sent["received_ns"]) / 1e9 - planned) * 1000
        )
    delays = summary([s * 1000 for t, _e, s in recorder.delays if start <= t < end])
    lags = summary([s * 1000 for t, s in recorder.lags if start <= t < end])
    ttft = summary(errors)
    late = summary(sim_late)
    scrape_ms = [s * 1000 for s, _b in run.scrapes]
    on_schedule = (
        run.missed_runs == 0
        and failed == 0
        and delays["p99"] is not None
        and delays["p99"] < MAX_DELAY_P99_MS
    )
    return {
        "interval_s": interval,
        "endpoints": count,
        "probes_per_s": count / interval,
        "measured_s": run.seconds,
        "probes": len(chosen),
        "failed": failed,
        "missed_runs": run.missed_runs,
        "cpu_percent": 100 * run.cpu_seconds / run.seconds,
        "rss_mb_peak": run.rss_mb_peak,
        "delay_ms": delays,
        "loop_lag_ms": lags,
        "ttft_error_ms": ttft,
        "simulator_late_ms": late,
        "simulator_cpu_percent": 100 * sum(run.simulator_cpu_seconds.values()) / run.seconds,
        "scrape_ms_max": max(scrape_ms) if scrape_ms else None,
        "on_schedule": on_schedule,
    }


def main(argv: list[str] | None = None) -> None:
    """Try the sizes, print the table, write the JSON."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--interval", help="one interval (e.g. 15s) instead of 15 s and 60 s")
    args_parser.add_argument("--endpoints", help="comma-separated sizes for --interval")
    args_parser.add_argument("--simulators", type=int, default=2)
    args = args_parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.interval:
        interval = parse_duration(args.interval)
        sizes = [int(x) for x in args.endpoints.split(",")] if args.endpoints else plan[interval]
        plan = {interval: sizes}
    daemon_cpus, sim_cpus = split_cpus()
    pin(daemon_cpus)
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="llm-monitor-bench-") as tmp,
        simulator_processes(args.simulators, [SIM_ENDPOINT], cpus=sim_cpus) as bases,
    ):
        for interval, sizes in plan.items():
            for count in sizes:
                began = time.perf_counter()
                row = trial(count, interval, bases, Path(tmp), args.quick)
                rows.append(row)
                print(
                    f"# {count} endpoints every {interval:g} s: "
                    f"{'on schedule' if row['on_schedule'] else 'NOT on schedule'}, "
                    f"{time.perf_counter() - began:.0f} s",
                    flush=True,
                )
                if not row["on_schedule"]:
                    break
    flat = []
    for row in rows:
        one = {k: v for k, v in row.items() if not isinstance(v, dict)}
        for name in ("delay_ms", "loop_lag_ms", "ttft_error_ms", "simulator_late_ms"):
            for stat in ("p50", "p95", "p99", "max"):
                one[f"{name}_{stat}"] = row[name][stat]
        flat.append(one)
    print_table(
        "One daemon on one core (ms unless stated; on schedule: no missed run, "
        "delay p99 < 1 s, no failed probe)",
        [
            Column("interval_s", "interval s", ".0f"),
            Column("endpoints", "endpoints", ","),
            Column("probes_per_s", "probes/s", ".1f"),
            Column("on_schedule", "on schedule"),
            Column("cpu_percent", "CPU %", ".1f"),
            Column("rss_mb_peak", "peak RSS MB", ".0f"),
            Column("delay_ms_p50", "delay p50", ".1f"),
            Column("delay_ms_p99", "p99", ".1f"),
            Column("delay_ms_max", "max", ".0f"),
            Column("loop_lag_ms_p99", "loop lag p99", ".1f"),
            Column("loop_lag_ms_max", "max", ".0f"),
            Column("missed_runs", "missed", ".0f"),
            Column("failed", "failed"),
            Column("ttft_error_ms_p50", "TTFT err p50", ".2f"),
            Column("ttft_error_ms_p95", "p95", ".2f"),
            Column("ttft_error_ms_p99", "p99", ".1f"),
            Column("simulator_late_ms_p99", "sim late p99", ".1f"),
            Column("simulator_cpu_percent", "sim CPU %", ".0f"),
            Column("scrape_ms_max", "scrape max", ".0f"),
        ],
        flat,
    )
    write_json(args.json, "scale", args, rows)


if __name__ == "__main__":
    main()
