"""Run a benchmark by name: ``python -m bench NAME [options]``, or ``python -m bench all``.

``all`` runs the quick variant of every benchmark, one after the other, and writes each one's
JSON into ``--out`` (default ``/tmp/llm-monitor-bench/``). Each benchmark's ``--help`` tells what it
measures and how.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

#: name -> (module, one line); the order is the order of ``all``.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ttft_overhead": ("bench.ttft_overhead", "TTFT error of bare probes, 1 and 50 at once"),
    "stalls": (
        "bench.stalls",
        "TTFT error with the probing process stopped across the first token",
    ),
    "accuracy": ("bench.accuracy", "TTFT/speed error of the daemon vs the openai SDK, by size"),
    "uptime": ("bench.uptime", "uptime under faults: llm-monitor vs blackbox exporter vs truth"),
    "scale": ("bench.scale", "endpoints one daemon keeps on schedule on one core"),
    "scrape": ("bench.scrape", "GET /metrics time and size by number of endpoints"),
    "storage": ("bench.storage", "insert, rollup, report and profile on 30 days of probes"),
    "locations": (
        "bench.locations",
        "one window's rollup of 1,000 endpoints from 1 and 3 locations",
    ),
    "incidents": (
        "bench.incidents",
        "the incident job on 1,000 endpoints: rebuilt from the store, then each run",
    ),
    "shards": (
        "bench.shards",
        "1, 2 and 3 sharded agents of one location on one PostgreSQL: endpoints kept on schedule",
    ),
    "api": ("bench.api", "each API route and report format on the store bench storage kept"),
    "pages": ("bench.pages", "each web page over HTTP, cold and warm, 1,000 endpoints, 30 days"),
    "store_ops": ("bench.store_ops", "store method timings (was tests/store/benchmark_store.py)"),
    "hotpath": ("bench.hotpath", "per-probe CPU of the runner's parsing path, in-process"),
    "daemon_load": ("bench.daemon_load", "CPU/RSS of `llm-monitor run` as a separate process"),
    "daemon_memory": ("bench.daemon_memory", "the daemon's Python memory by source file"),
}
#: What ``all`` skips: ``daemon_load`` is covered by ``scale`` (the same daemon, measured
#: in-process), ``daemon_memory`` is a diagnosis, not a measure; ``api`` needs the databases
#: that ``storage --keep DIR`` leaves.
NOT_IN_ALL = {"daemon_load", "daemon_memory", "api"}


def _usage() -> str:
    width = max(map(len, BENCHMARKS))
    lines = [f"  {name:<{width}}  {text}" for name, (_m, text) in BENCHMARKS.items()]
    return "usage: python -m bench NAME [options] | all [--out DIR]\n\n" + "\n".join(lines)


def run_all(argv: list[str]) -> None:
    """Every benchmark's quick variant, JSON into ``--out``."""
    options = argparse.ArgumentParser(prog="python -m bench all")
    options.add_argument("--out", type=Path, default=Path("/tmp/llm-monitor-bench"))
    args = options.parse_args(argv)
    began = time.perf_counter()
    for name, (module_name, _text) in BENCHMARKS.items():
        if name in NOT_IN_ALL:
            continue
        print(f"## {name}", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(module_name)
        module.main(["--quick", "--json", str(args.out / f"{name}.json")])
        print(f"({name}: {time.perf_counter() - start:.0f} s)\n", flush=True)
    print(f"all: {time.perf_counter() - began:.0f} s")


def main(argv: list[str] | None = None) -> None:
    """Dispatch to the named benchmark."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return
    name, rest = args[0], args[1:]
    if name == "all":
        run_all(rest)
        return
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n\n{_usage()}", file=sys.stderr)
        sys.exit(2)
    importlib.import_module(BENCHMARKS[name][0]).main(rest)


if __name__ == "__main__":
    main()
