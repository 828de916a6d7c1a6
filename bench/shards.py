"""Shards: 1, 2 and 3 agents of one location dividing the endpoints among themselves.

    python -m bench shards [--quick] [--endpoints 1000,4000] [--interval 15] [--agents 1,2,3]
                           [--intervals 4] [--json PATH]

For each number of endpoints and each number of agents, a fresh PostgreSQL database and a
config with ``agent.assignment: shard`` (heartbeat 1 s, probe jitter 0) whose endpoints are
served by one simulator process; the agents are ``llm-monitor run --agent shard-N --location
bench`` processes, each pinned to one core (round-robin over the machine's cores: with 2 cores,
the third agent shares the first's; the simulator and PostgreSQL are not pinned). Once every
agent sees the others (``/api/v1/agents``) and three more heartbeats have passed, the probes
of the runs planned in the next ``--intervals`` whole intervals are read back from the store (a
run belongs to the interval it was planned in, whether it started a little late or not).

What the table says, over that span, per run:

- *on schedule*: the endpoints probed exactly once per interval (``--intervals`` probes) with
  every gap between consecutive starts within 1 s of the interval, as a share of all;
- *missing* and *doubled*: endpoint-intervals with no probe, and with more than one (a
  gap under half an interval: two agents probed the same run);
- *gap error p50/p99*: |gap − interval| over consecutive probes of one endpoint, in ms;
- each agent's share (endpoints it probed), CPU (% of one core over the span) and peak RSS.

A single agent falls behind where one core is not enough (docs/benchmarks.md section 2 says
where); sharded agents each carry their share. On a 2-core machine the simulator and the
database share the cores with the agents, so 3 agents cannot do more than 2.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml
from sqlalchemy import make_url

from bench.common import Column, machine, parser, print_table, quantile, write_json
from bench.harness import KEY, SIM_ENDPOINT, endpoints_for
from bench.simproc import free_port, simulator_process
from bench.storage import POSTGRES_ADMIN, postgres_admin

LOCATION = "bench"
HEARTBEAT = 1.0
#: A gap between two probes of one endpoint counts as on schedule within this of the interval.
GAP_TOLERANCE = 1.0


def _config(
    path: Path, url: str, endpoints: list[tuple[str, str]], interval: float, port: int
) -> None:
    """One agent's config: the same for every agent but the port of its HTTP server."""
    raw: dict[str, Any] = {
        "storage": {"url": url},
        "server": {"host": "127.0.0.1", "port": port},
        "probe": {"interval": f"{interval}s", "timeout": f"{min(10.0, interval)}s", "jitter": 0},
        "rollup": {"window": "30m"},
        "agent": {"heartbeat": f"{HEARTBEAT}s", "assignment": "shard"},
        "logging": {"format": "json", "level": "warning"},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {"id": e, "model": "gpt-4.1-nano", "provider": "openai", "base_url": base,
             "api_key_env": "BENCH_KEY"}
            for e, base in endpoints
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


@contextlib.contextmanager
def _database() -> Iterator[str]:
    name = f"bench_shards_{uuid.uuid4().hex[:10]}"
    with postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN).set(database=name).render_as_string(False)
    finally:
        with postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _start_agents(
    url: str, endpoints: list[tuple[str, str]], interval: float, count: int, tmp: Path
) -> list[tuple[subprocess.Popen[bytes], int]]:
    cores = sorted(os.sched_getaffinity(0))
    agents = []
    for index in range(count):
        port = free_port()
        config = tmp / f"agent-{index + 1}.yaml"
        _config(config, url, endpoints, interval, port)
        core = {cores[index % len(cores)]}
        # The child keeps its own descriptor of the log: ours is closed at once.
        with (tmp / f"agent-{index + 1}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--config", str(config),
                 "--agent", f"shard-{index + 1}", "--location", LOCATION],
                env={**os.environ, "BENCH_KEY": KEY},
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=(lambda core=core: os.sched_setaffinity(0, core)),  # type: ignore[misc]
            )  # fmt: skip
        agents.append((process, port))
    return agents


def _wait_for_members(ports: list[int], count: int, deadline: float) -> None:
    """Until every agent lists ``count`` live agents."""
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            seen = []
            for port in ports:
                try:
                    body = client.get(f"http://127.0.0.1:{port}/api/v1/agents").json()
                    seen.append(sum(1 for a in body["agents"] if a["alive"]))
                except (httpx.HTTPError, ValueError, KeyError):
                    seen.append(0)
            if all(n == count for n in seen):
                return
            time.sleep(0.2)
    raise RuntimeError(f"the {count} agents did not all see each other in time")


def _stop(agents: list[tuple[subprocess.Popen[bytes], int]]) -> None:
    for process, _port in agents:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _port in agents:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _probes(url: str, since: float, until: float) -> list[tuple[str, str, float]]:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq) as connection:
        rows = connection.execute(
            "SELECT endpoint, agent, extract(epoch FROM started_at)::float8 FROM probes"
            " WHERE started_at >= to_timestamp(%s) AND started_at < to_timestamp(%s)",
            (since, until),
        ).fetchall()
    return [(e, a, float(t)) for e, a, t in rows]


def planned_in_span(
    probes: list[tuple[str, str, float]], begin: float, interval: float, intervals: int
) -> list[tuple[str, str, float]]:
    """The probes (read up to ``GAP_TOLERANCE`` past the span's end) whose run was planned in
    the span [begin, begin + intervals * interval). A run starts at its planned time or a little
    later, so an endpoint's planned times are its phase (its least late start, modulo the
    interval) plus whole intervals, and a probe belongs to the latest of them not after its
    start: a run planned a millisecond before the span's end and started a few after it counts
    in the span, as it should, and a run planned at the end does not."""
    end = begin + intervals * interval
    offsets: dict[str, list[float]] = defaultdict(list)
    for endpoint, _agent, started in probes:
        offsets[endpoint].append((started - begin) % interval)
    phases: dict[str, float] = {}
    for endpoint, found in offsets.items():
        # Late starts cluster just after the phase; a cluster that wraps past the interval
        # (planned at 9.998, one start at 10.004 reads as 0.004) is unwrapped first.
        if max(found) - min(found) > interval / 2:
            found = [o + interval if o < interval / 2 else o for o in found]
        phases[endpoint] = min(found) % interval
    kept = []
    for endpoint, agent, started in probes:
        planned = started - (started - begin - phases[endpoint]) % interval
        if begin <= planned < end:
            kept.append((endpoint, agent, started))
    return kept


def measure(
    probes: list[tuple[str, str, float]],
    endpoints: list[str],
    interval: float,
    intervals: int,
) -> dict[str, Any]:
    """The schedule figures of the docstring from the probes (endpoint, agent, start) of a span
    of ``intervals`` intervals."""
    starts: dict[str, list[float]] = defaultdict(list)
    shares: dict[str, set[str]] = defaultdict(set)
    for endpoint, agent, started in probes:
        starts[endpoint].append(started)
        shares[agent].add(endpoint)
    on_schedule = missing = doubled = 0
    gap_errors: list[float] = []
    for endpoint in endpoints:
        times = sorted(starts.get(endpoint, []))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        gap_errors += [abs(g - interval) for g in gaps]
        doubled += sum(1 for g in gaps if g < interval / 2)
        missing += max(0, intervals - len(times))
        if len(times) == intervals and all(abs(g - interval) <= GAP_TOLERANCE for g in gaps):
            on_schedule += 1
    return {
        "probes": len(probes),
        "expected": len(endpoints) * intervals,
        "on_schedule": on_schedule / len(endpoints),
        "missing": missing,
        "doubled": doubled,
        "gap_err_p50_ms": 1000 * (quantile(gap_errors, 0.5) or 0.0),
        "gap_err_p99_ms": 1000 * (quantile(gap_errors, 0.99) or 0.0),
        "shares": {agent: len(owned) for agent, owned in sorted(shares.items())},
    }


def trial(
    sim_base: str, count: int, agents: int, interval: float, intervals: int
) -> dict[str, Any]:
    """One run: ``agents`` sharded agents probing ``count`` endpoints."""
    endpoints = endpoints_for("s", count, [sim_base])
    ids = [e for e, _base in endpoints]
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as directory, _database() as url:
        tmp = Path(directory)
        started = _start_agents(url, endpoints, interval, agents, tmp)
        try:
            _wait_for_members([port for _p, port in started], agents, time.monotonic() + 120)
            # Three heartbeats for every share to settle, then whole intervals on the clock.
            time.sleep(3 * HEARTBEAT)
            begin = (time.time() // interval + 1) * interval
            time.sleep(max(0.0, begin - time.time()))
            cpu_before = [_cpu_seconds(p.pid) for p, _port in started]
            time.sleep(intervals * interval)
            cpu = [_cpu_seconds(p.pid) - b for (p, _), b in zip(started, cpu_before, strict=True)]
            rss = [_peak_rss_mb(p.pid) for p, _port in started]
            # Let the last probes finish and be written before reading them.
            time.sleep(min(10.0, interval) + 2)
            failed = [i for i, (p, _) in enumerate(started) if p.poll() is not None]
            if failed:
                log = (tmp / f"agent-{failed[0] + 1}.log").read_text(errors="replace")
                raise RuntimeError(f"agent {failed[0] + 1} exited:\n{log[-2000:]}")
        finally:
            _stop(started)
        read = _probes(url, begin, begin + intervals * interval + GAP_TOLERANCE)
        figures = measure(
            planned_in_span(read, begin, interval, intervals), ids, interval, intervals
        )
    span = intervals * interval
    return {
        "endpoints": count,
        "interval": interval,
        "agents": agents,
        **figures,
        "cpu_pct": [round(100 * c / span, 1) for c in cpu],
        "rss_mb": [round(r) for r in rss],
    }


def main(argv: list[str] | None = None) -> None:
    """Run and print the table."""
    options = parser(__doc__)
    options.add_argument("--endpoints", default="1000,4000")
    options.add_argument("--interval", type=float, default=15.0)
    options.add_argument("--agents", default="1,2,3")
    options.add_argument("--intervals", type=int, default=4)
    args = options.parse_args(argv)
    sizes = [200] if args.quick else [int(n) for n in args.endpoints.split(",")]
    interval = 5.0 if args.quick else args.interval
    intervals = 3 if args.quick else args.intervals
    counts = [int(n) for n in args.agents.split(",")]
    host = machine()
    print(
        f"machine: {host['cpu']} (family {host['cpu_family']}, model {host['cpu_model']}), "
        f"{len(os.sched_getaffinity(0))} cores"
    )
    rows = []
    with simulator_process([SIM_ENDPOINT]) as base:
        for size in sizes:
            for agents in counts:
                row = trial(base, size, agents, interval, intervals)
                print(
                    f"{size} endpoints, {agents} agent(s): {row['on_schedule']:.1%} on schedule",
                    flush=True,
                )
                rows.append(row)
    shown = [
        {**r, "shares": " / ".join(map(str, r["shares"].values())),
         "cpu": " / ".join(f"{c:.0f}" for c in r["cpu_pct"]),
         "rss": " / ".join(str(m) for m in r["rss_mb"])}
        for r in rows
    ]  # fmt: skip
    columns = [
        Column("endpoints", "endpoints", ","),
        Column("interval", "interval s", "g"),
        Column("agents", "agents"),
        Column("expected", "probes expected", ","),
        Column("probes", "stored", ","),
        Column("on_schedule", "on schedule", ".1%"),
        Column("missing", "missing"),
        Column("doubled", "doubled"),
        Column("gap_err_p50_ms", "gap err p50 ms", ".0f"),
        Column("gap_err_p99_ms", "p99 ms", ".0f"),
        Column("shares", "endpoints per agent"),
        Column("cpu", "CPU % per agent"),
        Column("rss", "peak RSS MB per agent"),
    ]
    print_table(f"sharded agents, one location, {intervals} intervals measured", columns, shown)
    write_json(args.json, "shards", args, rows)


if __name__ == "__main__":
    main()
