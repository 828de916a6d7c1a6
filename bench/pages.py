"""Pages: every web page of the daemon, over HTTP, on 1,000 endpoints and 30 days of rollups.

    python -m bench pages [--quick] [--backends sqlite|postgresql|sqlite,postgresql]
                          [--endpoints 1000] [--big 200] [--days 30] [--raw-hours 24]
                          [--runs 30] [--sockets daemon,nodelay] [--json PATH]

The store (SQLite by default; PostgreSQL at ``$BENCH_POSTGRES_URL`` as ``bench storage`` uses
it, in a database made for the run and dropped after it) holds ``--endpoints`` endpoints: one
model of ``--big`` endpoints and models of 20 for the rest (1,000 = 40 × 20 + 200), OpenAI and
Azure in turn. Their windows are 30 minutes long:

- ``--days`` of rollups, written straight into the table as the window job would have
  written them (30 probes each, now and then a failure);
- the last ``--raw-hours`` as raw probes, one per endpoint per minute up to now (1 % failures,
  as ``bench storage`` writes them), rolled up by ``Aggregator.backfill`` as a daemon
  starting on that store does; so the endpoint pages have recent probes and a window's report
  is computed from its 30,000 probes, as the daemon's is.

The daemon's HTTP app (``monitor.api.app.create_app``, what ``llm-monitor run`` serves) runs on
uvicorn on a loopback socket, over a view of the store as the daemon gives it (the snapshot
its window job publishes, the endpoints' last probes in memory) and a clock stopped at the
moment the store was filled, so that no window closes during the run. For each page a new app
and server are started (empty page caches, as after a start or when the daemon publishes the
next window): the first request is **cold**, then ``--runs`` more on the same connection are
**warm** (median and p95). Requests are made with httpx, one at a time; every answer must be
a 200.

Each page is timed on two sockets, one after the other (``--sockets``): **daemon**, the
listening socket made by ``monitor.api.server.listen`` as ``llm-monitor run`` makes it, and
**nodelay**, the same with ``TCP_NODELAY`` set. asyncio sets ``TCP_NODELAY`` only on
connections whose socket says ``IPPROTO_TCP``, which one from ``socket.create_server`` does
not; without it (Nagle's algorithm), the body of a response whose headers went out just
before it can wait for the client's delayed ACK, about 40 ms on Linux, on the requests of a
kept-alive connection after the first.

SQLite is left as the store leaves it: no ``ANALYZE`` (the store never runs it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import random
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
import yaml
from psycopg import sql
from sqlalchemy import make_url

from bench.common import Column, machine, ms, parser, print_table, quantile, write_json
from bench.harness import load
from bench.storage import POSTGRES_ADMIN, Identity, fill_postgres, fill_sqlite, postgres_admin
from monitor.api.app import create_app
from monitor.api.server import listen
from monitor.config import Config
from monitor.core.result import ProbeResult
from monitor.metrics import MetricsRegistry
from monitor.service.aggregator import (
    Aggregator,
    Snapshot,
    last_complete_window,
    settle_seconds,
)
from monitor.store import Store, open_store
from monitor.store.schema import rollups as rollups_table
from monitor.store.schema import to_epoch_micros
from monitor.web.reportpages import window_name

WINDOW = 1800
#: Endpoints of each model but the big one.
MODEL_SIZE = 20
#: The product's goal for every page, warm, at 1,000 endpoints and 30 days of rollups.
GOAL_MS = 150.0
ROLLUP_COLUMNS = [c.name for c in rollups_table.columns]
#: Failed probes of a stored window (of 30): mostly none.
_WINDOW_ERRORS = (0,) * 12 + (1, 2)


@dataclass
class BenchView:
    """The daemon's view (``monitor.service.view.MonitorView``) of a filled store: the
    snapshot its window job published and the last probes it keeps in memory."""

    config: Config
    store: Store
    current: Snapshot | None
    last: dict[str, ProbeResult]
    registry: MetricsRegistry = field(default_factory=MetricsRegistry)

    def snapshot(self) -> Snapshot | None:
        return self.current

    def last_probes(self) -> Mapping[str, ProbeResult]:
        return self.last

    def budget(self) -> None:
        return None

    def problems(self) -> list[str]:
        return []


@dataclass(frozen=True)
class World:
    """What was filled: the config, the moment the pages are drawn at, and what to ask for."""

    config: Config
    now: datetime
    #: The start of the last complete window (by ``now``).
    last_window: datetime
    #: A model of ``MODEL_SIZE`` endpoints, the big model, an endpoint of the first.
    model: str
    big: str
    endpoint: str
    rollups: int
    probes: int
    fill_seconds: float


def _models(endpoints: int, big: int) -> list[tuple[str, int]]:
    """(model id, its endpoints): the big one first, then models of ``MODEL_SIZE``."""
    big = min(big, endpoints)
    models = [("big-pool", big)] if big else []
    rest = endpoints - big
    for k in range((rest + MODEL_SIZE - 1) // MODEL_SIZE):
        models.append((f"model-{k:02d}", min(MODEL_SIZE, rest - k * MODEL_SIZE)))
    return models


def world_config(url: str, endpoints: int, big: int) -> Config:
    """A config of ``endpoints`` endpoints (OpenAI and Azure in turn) over the store at
    ``url``, probed every minute."""
    models: list[dict[str, Any]] = []
    specs: list[dict[str, Any]] = []
    for model_id, count in _models(endpoints, big):
        models.append(
            {
                "id": model_id,
                "name": f"Bench: {model_id}",
                "creator": "bench",
                "release_date": "2025-04-14",
                "pricing": {"input_per_million": 0.1, "output_per_million": 0.4},
                "context_window": 128_000,
                "max_output_tokens": 16_384,
                "capabilities": ["tool_use"],
            }
        )
        for _ in range(count):
            i = len(specs)
            spec: dict[str, Any] = {
                "id": f"ep-{i:04d}",
                "model": model_id,
                "api_key_env": "BENCH_KEY",
            }
            if i % 2 == 0:
                spec.update(provider="openai", base_url="http://127.0.0.1:1/v1")
            else:
                spec.update(
                    provider="azure",
                    base_url="http://127.0.0.1:1",
                    deployment="d",
                    region=("eastus", "swedencentral", "westeurope")[i % 3],
                )
            specs.append(spec)
    raw = {
        "storage": {"url": url},
        "probe": {"interval": "60s", "timeout": "30s"},
        "rollup": {"window": "30m"},
        "models": models,
        "endpoints": specs,
    }
    return load(yaml.safe_dump(raw, sort_keys=False))


def _rollup_rows(
    config: Config, starts: Sequence[datetime], seed: int = 7
) -> Iterator[tuple[Any, ...]]:
    """Rows of the ``rollups`` table (``ROLLUP_COLUMNS`` order, timestamps as datetimes) of
    every endpoint in every window of ``starts``, window after window as the job writes them."""
    rng = random.Random(seed)
    base = {e.id: (0.2 + rng.random() * 0.4, 60 + rng.random() * 90) for e in config.endpoints}
    for start in starts:
        computed = start + timedelta(seconds=WINDOW + 40)
        for e in config.endpoints:
            ttft0, speed0 = base[e.id]
            errors = rng.choice(_WINDOW_ERRORS)
            ok = 30 - errors
            ttft = ttft0 * (0.9 + rng.random() * 0.2)
            speed = speed0 * (0.9 + rng.random() * 0.2)
            outcomes = {"server_error": errors, "success": ok} if errors else {"success": ok}
            row: dict[str, Any] = {
                "endpoint": e.id, "window_seconds": WINDOW, "window_start": start,
                "model": e.model.id, "provider": e.provider, "region": e.region, "probes": 30,
                "successes": ok, "outcomes": json.dumps(outcomes), "uptime_ratio": ok / 30,
                "output_tokens": 40 * ok, "input_tokens": 20 * 30, "cost_usd": 0.0006,
                "computed_at": computed, "locations": 1, "slots_up": None, "slots_down": None,
            }  # fmt: skip
            prefixes = (("ttft", ttft), ("speed", speed), ("latency", ttft + 0.4),
                        ("answer_ttft", ttft))  # fmt: skip
            for prefix, p50 in prefixes:
                row[f"{prefix}_count"] = ok
                for stat, factor in (("p50", 1.0), ("p90", 1.25), ("p95", 1.4), ("p99", 1.8),
                                     ("min", 0.6), ("max", 2.0), ("mean", 1.05)):  # fmt: skip
                    row[f"{prefix}_{stat}"] = p50 * factor
            yield tuple(row[c] for c in ROLLUP_COLUMNS)


def _insert_rollups_sqlite(path: Path, rows: Iterator[tuple[Any, ...]]) -> None:
    at = [ROLLUP_COLUMNS.index("window_start"), ROLLUP_COLUMNS.index("computed_at")]
    statement = (
        f"INSERT INTO rollups ({','.join(ROLLUP_COLUMNS)}) "
        f"VALUES ({','.join('?' * len(ROLLUP_COLUMNS))})"
    )
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            values = list(row)
            for i in at:
                values[i] = to_epoch_micros(values[i])
            batch.append(tuple(values))
            if len(batch) >= 50_000:
                connection.executemany(statement, batch)
                batch.clear()
        connection.executemany(statement, batch)
        connection.execute("COMMIT")
    finally:
        connection.close()


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _insert_rollups_postgres(url: str, rows: Iterator[tuple[Any, ...]]) -> None:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY rollups ({','.join(ROLLUP_COLUMNS)}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for count, row in enumerate(rows, 1):
                buffer.write("\t".join(map(_copy_text, row)))
                buffer.write("\n")
                if count % 50_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        connection.commit()
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE rollups")


def fill(url: str, endpoints: int, big: int, days: float, raw_hours: float, now: datetime) -> World:
    """Fill the migrated store at ``url``: rollups of ``days`` up to the last complete window
    at ``now``, raw probes of the last ``raw_hours`` (rolled up)."""
    began = time.perf_counter()
    config = world_config(url, endpoints, big)
    last = last_complete_window(now, WINDOW, settle_seconds(config))
    end = last + timedelta(seconds=WINDOW)
    windows = int(days * 86_400) // WINDOW
    raw_windows = min(int(raw_hours * 3600) // WINDOW, windows)
    raw_start = end - timedelta(seconds=raw_windows * WINDOW)
    starts = [end - timedelta(seconds=WINDOW * k) for k in range(windows, raw_windows, -1)]
    rows = _rollup_rows(config, starts)
    postgres = make_url(url).get_backend_name() != "sqlite"
    database = make_url(url).database or ""
    if postgres:
        _insert_rollups_postgres(url, rows)
    else:
        _insert_rollups_sqlite(Path(database), rows)
    ids = [e.id for e in config.endpoints]
    identities: dict[str, Identity] = {
        e.id: (e.provider, e.model.id, e.region) for e in config.endpoints
    }
    minutes = int((now - raw_start).total_seconds() // 60)
    if postgres:
        fill_postgres(url, ids, raw_start, minutes, identities)
    else:
        fill_sqlite(Path(database), ids, raw_start, minutes, identities, analyze=False)
    store = open_store(url)
    try:
        aggregator = Aggregator(config, store, publish=lambda snapshot: None, clock=lambda: now)
        aggregator.backfill()
    finally:
        store.close()
    return World(
        config=config,
        now=now,
        last_window=last,
        model=next(m.id for m in config.models if m.id != "big-pool"),
        big="big-pool" if big else config.models[0].id,
        endpoint=next(e.id for e in config.endpoints if e.model.id != "big-pool"),
        rollups=windows * len(ids),
        probes=minutes * len(ids),
        fill_seconds=time.perf_counter() - began,
    )


def pages(w: World) -> list[tuple[str, str]]:
    """(what, path) of every page timed."""
    window = window_name(w.last_window, WINDOW)
    m, big, e = w.model, w.big, w.endpoint
    big_pages = sum(1 for x in w.config.endpoints if x.model.id == big) > 100
    status_pages = len(w.config.endpoints) > 100
    return [
        ("status", "/"),
        *([("status, page 2", "/?page=2")] if status_pages else []),
        (f"model ({MODEL_SIZE} endpoints), 1h", f"/models/{m}?range=1h"),
        (f"model ({MODEL_SIZE} endpoints), 24h", f"/models/{m}"),
        (f"model ({MODEL_SIZE} endpoints), 7d", f"/models/{m}?range=7d"),
        (f"model ({MODEL_SIZE} endpoints), 30d", f"/models/{m}?range=30d"),
        ("model (big), 24h", f"/models/{big}"),
        ("model (big), 30d", f"/models/{big}?range=30d"),
        *([("model (big), 24h, page 2", f"/models/{big}?page=2")] if big_pages else []),
        ("model card", f"/models/{m}/card"),
        ("endpoint, 24h", f"/endpoints/{e}"),
        ("endpoint, 30d", f"/endpoints/{e}?range=30d"),
        ("reports", "/reports"),
        ("report of the last window", f"/reports/{window}"),
        ("its .md", f"/reports/{window}.md"),
        ("its .csv", f"/reports/{window}.csv"),
        ("its .json", f"/reports/{window}.json"),
        ("badge (uptime)", f"/badges/models/{m}/uptime.svg"),
    ]


async def _time_page(
    view: BenchView, clock: Callable[[], datetime], path: str, runs: int, nodelay: bool
) -> dict[str, Any]:
    """A new app and server on a socket made as the daemon makes it (with ``TCP_NODELAY``
    when ``nodelay``); the first request, then ``runs`` more on the same connection."""
    app = create_app(view, clock=clock)
    sock = listen("127.0.0.1", 0)
    if nodelay:  # accepted connections inherit it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn has no event to wait on)
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        times: list[float] = []
        size = 0
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            for _ in range(runs + 1):
                began = time.perf_counter()
                response = await client.get(path)
                times.append(time.perf_counter() - began)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:500]}")
                size = len(response.content)
    finally:
        server.should_exit = True
        await serving
        sock.close()
    warm = times[1:]
    return {
        "cold_ms": ms(times[0]),
        "p50_ms": ms(quantile(warm, 0.5)),
        "p95_ms": ms(quantile(warm, 0.95)),
        "bytes": size,
    }


def _verdict(p50: float | None, p95: float | None) -> str:
    if p50 is None or p95 is None:
        return "—"
    return "yes" if p95 < GOAL_MS else ("p50 only" if p50 < GOAL_MS else "no")


def measure(url: str, args: argparse.Namespace, backend: str) -> list[dict[str, Any]]:
    """Fill the store at ``url`` and time every page on it."""
    store = open_store(url)
    try:
        store.upgrade()
    finally:
        store.close()
    now = datetime.now(UTC).replace(microsecond=0)
    w = fill(url, args.endpoints, args.big, args.days, args.raw_hours, now)
    print(
        f"# {backend}: {len(w.config.endpoints):,} endpoints in {len(w.config.models)} models, "
        f"{w.rollups:,} rollups, {w.probes:,} raw probes; filled in {w.fill_seconds:.0f} s",
        flush=True,
    )
    store = open_store(url)
    try:
        aggregator = Aggregator(w.config, store, publish=lambda s: None, clock=lambda: w.now)
        view = BenchView(w.config, store, aggregator.refresh(), store.last_probes())
        # As the daemon does once started: what lives for the whole run leaves the collector's
        # full scans.
        gc.collect()
        gc.freeze()
        rows = []
        for what, path in pages(w):
            row: dict[str, Any] = {"backend": backend, "what": what, "path": path}
            for mode in args.sockets:
                timed = asyncio.run(
                    _time_page(view, lambda: w.now, path, args.runs, mode == "nodelay")
                )
                row["bytes"] = timed.pop("bytes")
                row.update({f"{mode}_{k}": v for k, v in timed.items()})
                row[f"{mode}_meets"] = _verdict(timed["p50_ms"], timed["p95_ms"])
            rows.append(row)
            print(f"# {json.dumps(row)}", flush=True)
    finally:
        gc.unfreeze()
        store.close()
    return rows


def _postgres_database() -> tuple[str, Callable[[], None]]:
    name = f"llm_monitor_bench_pages_{uuid.uuid4().hex[:8]}"
    admin = postgres_admin()
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.close()

    return make_url(POSTGRES_ADMIN).set(database=name).render_as_string(False), drop


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write the JSON)."""
    options = parser(__doc__)
    options.add_argument("--backends", default="sqlite", help="sqlite, postgresql or both")
    options.add_argument("--endpoints", type=int, default=None, help="default 1000 (quick: 100)")
    options.add_argument("--big", type=int, default=None, help="the big model's endpoints; "
                         "default 200 (quick: 40)")  # fmt: skip
    options.add_argument("--days", type=float, default=None, help="default 30 (quick: 2)")
    options.add_argument("--raw-hours", type=float, default=None, help="default 24 (quick: 3)")
    options.add_argument("--runs", type=int, default=None, help="warm requests per page; "
                         "default 30 (quick: 5)")  # fmt: skip
    options.add_argument(
        "--sockets",
        default="daemon,nodelay",
        help="daemon: the socket as monitor.api.server.listen makes it; nodelay: the same with "
        "TCP_NODELAY (default: both, one after the other)",
    )
    args = options.parse_args(argv)
    quick = args.quick
    args.endpoints = args.endpoints or (100 if quick else 1000)
    args.big = args.big if args.big is not None else (40 if quick else 200)
    args.days = args.days or (2.0 if quick else 30.0)
    args.raw_hours = args.raw_hours if args.raw_hours is not None else (3.0 if quick else 24.0)
    args.runs = args.runs or (5 if quick else 30)
    args.sockets = args.sockets.split(",")
    if not set(args.sockets) <= {"daemon", "nodelay"}:
        raise SystemExit(f"--sockets: daemon, nodelay or both, not {args.sockets}")
    host = machine()
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="llm-monitor-bench-") as tmp:
                rows += measure(f"sqlite:///{Path(tmp) / 'pages.db'}", args, backend)
        elif backend == "postgresql":
            url, drop = _postgres_database()
            try:
                rows += measure(url, args, backend)
            finally:
                drop()
        else:
            raise SystemExit(f"unknown backend {backend!r}: sqlite or postgresql")
    load_after = os.getloadavg()
    names = {"daemon": "", "nodelay": "nodelay "}
    columns = [Column("backend", "store"), Column("what", "page"), Column("path", "path")]
    for mode in args.sockets:
        columns += [
            Column(f"{mode}_cold_ms", f"{names[mode]}cold ms", ".1f"),
            Column(f"{mode}_p50_ms", f"{names[mode]}p50 ms", ".1f"),
            Column(f"{mode}_p95_ms", f"{names[mode]}p95 ms", ".1f"),
            Column(f"{mode}_meets", f"{names[mode]}< {GOAL_MS:.0f}"),
        ]
    columns.append(Column("bytes", "bytes", ","))
    print_table(
        f"Pages over HTTP, {args.endpoints:,} endpoints, {args.days:g} days of 30-minute rollups, "
        f"the last {args.raw_hours:g} h as raw probes (cold: the first request after start; "
        f"warm: {args.runs} more; goal: warm < {GOAL_MS:.0f} ms, yes when the p95 is)",
        columns,
        rows,
    )
    print(
        f"machine: {host['cpu']} (family {host['cpu_family']}, model {host['cpu_model']}), "
        f"{host['cpus']} CPUs, {host['memory_gb']} GB, Python {host['python']}; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after",
        flush=True,
    )
    write_json(args.json, "pages", args, {"load_average": [load_before, load_after], "rows": rows})


if __name__ == "__main__":
    main()
