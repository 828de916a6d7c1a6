"""Storage: insert rate, one window's rollups, ``report`` and the profile, on 30 days of probes.

    python -m bench storage [--quick] [--backends sqlite,postgresql] [--days 30] [--json PATH]
                            [--keep DIR]

For each backend a database is filled, with bulk inserts (SQLite ``executemany`` on one
transaction, PostgreSQL ``COPY``), with ``--days`` of raw probes for 100 endpoints at one probe a
minute ending now (30 days: 4.32 M rows; 1 % failures), then rolled up the way the daemon's
start-up does (``Aggregator.backfill``: every 30-minute window). Then:

- **insert rate**: ``store.add_probes`` in batches of 500 (the sink's batch) into that table;
- **rollup**: ``monitor.service.aggregator.roll_window`` of one window holding 1,000 endpoints × 30
  probes (added for it), with a config of those 1,000 endpoints;
- **report**: ``llm-monitor report`` (the default: the last complete window) as a command, and
  its work in-process (``build_report`` + ``render_table``);
- **profile**: ``llm-monitor profile MODEL`` as a command, its work in-process
  (``monitor.reports.model_profile`` + ``render_profile``), ``monitor.service.aggregator.snapshot``
  (what the daemon's window job computes) and ``GET /api/v1/models/{id}/profile`` on the
  daemon's HTTP app serving the snapshot the window job published;
- **floors** of a command, what it costs before it does any work: the bare interpreter
  (``python -c pass``), ``llm-monitor --version`` (interpreter + the CLI module) and the
  interpreter with every module the ``report`` (or ``profile``) command imports.

Every command time is the median of several runs of a fresh process (``--runs``, halved).

SQLite lives in a temporary directory under /tmp; the PostgreSQL database
(``$BENCH_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` for
the server) is created for the run and dropped afterwards. With ``--keep DIR`` the databases are
kept instead (the SQLite file in DIR, the PostgreSQL database named in DIR's state file) and
reused by later runs with the same ``--days``: the probes missing since the last run are added
the same way, probes older than ``--days`` deleted and the new windows rolled up (as a daemon
restarting on that database would), which takes seconds instead of the minutes of a full fill;
the table then shows the fill and backfill times of the run that built the databases.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from rich.console import Console
from sqlalchemy import make_url

from bench.common import Column, ms, parser, print_table, quantile, timed, write_json
from bench.harness import KEY, config_text, load
from monitor.api.app import create_app
from monitor.config import Config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import window_start
from monitor.reports.build import build_report, model_profile
from monitor.reports.terminal import render_profile, render_table
from monitor.service.aggregator import Aggregator, roll_window, snapshot
from monitor.service.daemon import Daemon
from monitor.store import open_store
from monitor.store.schema import probes, to_epoch_micros

ENDPOINTS = 100
ROLLUP_ENDPOINTS = 1000
WINDOW = 1800
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
COLUMNS = [c.name for c in probes.columns]
_FAILURES = ("server_error", "timeout", "rate_limited", "stream_error")


#: (provider, model, region) of an endpoint's probes, unless ``identities`` says otherwise.
Identity = tuple[str, str, str | None]
_IDENTITY: Identity = ("openai", "gpt-4.1-nano", None)


def _rows(
    endpoints: list[str],
    start: datetime,
    minutes: int,
    seed: int = 1,
    identities: Mapping[str, Identity] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Probe rows in ``COLUMNS`` order, one per endpoint per minute, in time order."""
    rng = random.Random(seed)
    lognorm = rng.lognormvariate
    prefix = uuid.uuid4().hex[:8]
    serial = 0
    identity = {e: (identities or {}).get(e, _IDENTITY) for e in endpoints}
    for minute in range(minutes):
        at = start + timedelta(minutes=minute)
        for endpoint in endpoints:
            serial += 1
            ok = rng.random() >= 0.01
            ttft = lognorm(-1.2, 0.3)
            speed = lognorm(4.6, 0.2) if ok else None
            provider, model, region = identity[endpoint]
            yield (
                f"{prefix}{serial:024x}", endpoint, provider, model,
                "chat_completions", region, "success" if ok else rng.choice(_FAILURES), at,
                200 if ok else 500, ttft if ok else None, ttft + 0.4, ttft * 0.5,
                40 if ok else None, 20, None, None, False, speed,
                0.01 if ok else None, 40 if ok else 0, 0.0, True, "stop" if ok else None,
                f"{model}-2025-04-14", f"req_{serial:032x}", None,
                0.00002 if ok else None, None if ok else "HTTP 500 server_error",
                ttft + 0.45, None, None, ttft if ok else None, "short", "kernel",
                False if ok else None,
            )  # fmt: skip


def fill_sqlite(
    path: Path,
    endpoints: list[str],
    start: datetime,
    minutes: int,
    identities: Mapping[str, Identity] | None = None,
    *,
    analyze: bool = True,
) -> float:
    """Bulk-insert rows into the migrated SQLite file, then ``ANALYZE`` it (unless not
    ``analyze``: the store itself never does); return seconds."""
    began = time.perf_counter()
    placeholders = ",".join("?" * len(COLUMNS))
    statement = f"INSERT INTO probes ({','.join(COLUMNS)}) VALUES ({placeholders})"
    at = COLUMNS.index("started_at")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        batch: list[tuple[Any, ...]] = []
        for row in _rows(endpoints, start, minutes, identities=identities):
            values = list(row)
            values[at] = to_epoch_micros(values[at])
            batch.append(tuple(values))
            if len(batch) >= 50_000:
                connection.executemany(statement, batch)
                batch.clear()
        connection.executemany(statement, batch)
        connection.execute("COMMIT")
        if analyze:
            connection.execute("ANALYZE")
    finally:
        connection.close()
    return time.perf_counter() - began


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fill_postgres(
    url: str,
    endpoints: list[str],
    start: datetime,
    minutes: int,
    identities: Mapping[str, Identity] | None = None,
) -> float:
    """COPY rows into the migrated PostgreSQL database; return seconds."""
    began = time.perf_counter()
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as connection, connection.cursor() as cursor:
        copy_sql = f"COPY probes ({','.join(COLUMNS)}) FROM STDIN"
        with cursor.copy(copy_sql) as copy:
            buffer = io.StringIO()
            rows = _rows(endpoints, start, minutes, identities=identities)
            for n, row in enumerate(rows, 1):
                buffer.write("\t".join(map(_copy_value, row)))
                buffer.write("\n")
                if n % 50_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        connection.commit()
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE probes")
    return time.perf_counter() - began


def _config(tmp: Path, url: str, endpoints: list[str]) -> tuple[Config, Path]:
    text = config_text(
        [(e, "http://127.0.0.1:1") for e in endpoints],
        interval=60,
        timeout=30,
        storage_url=url,
        port=9464,
    )
    path = tmp / f"monitor-{len(endpoints)}.yaml"
    path.write_text(text, encoding="utf-8")
    return load(text), path


def _probe(endpoint: str, at: datetime, probe_id: str | None = None) -> ProbeResult:
    return ProbeResult(
        probe_id=probe_id or uuid.uuid4().hex, endpoint=endpoint, provider="openai",
        model="gpt-4.1-nano", api="chat_completions", region=None, outcome=Outcome.SUCCESS,
        started_at=at, http_status=200, ttft_seconds=0.3, total_seconds=0.7,
        first_byte_seconds=0.15,
        output_tokens=40, input_tokens=20, output_tokens_per_second=100.0,
        inter_token_latency_seconds=0.01, content_chunks=40, connect_seconds=0.0,
        connection_reused=True, finish_reason="stop", response_model="gpt-4.1-nano",
        provider_request_id=f"req_{uuid.uuid4().hex}", cost_usd=0.00002,
    )  # fmt: skip


def _wall_ms(command: list[str], runs: int, env: dict[str, str] | None = None) -> float | None:
    """Median wall time of ``runs`` runs of ``command`` (each must succeed), in ms."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return ms(quantile(times, 0.5))


def _command(args: list[str], config_path: Path, runs: int) -> float | None:
    return _wall_ms(
        [sys.executable, "-m", "monitor", *args, "--config", str(config_path)],
        runs,
        env={**os.environ, "BENCH_KEY": KEY, "COLUMNS": "120"},
    )


#: The modules each reading command ends up importing (``python -X importtime`` of the command).
_COMMAND_IMPORTS = {
    "report": "import monitor.cli, monitor.config, monitor.reports, monitor.store.sql",
    "profile": (
        "import monitor.cli, monitor.config, monitor.service.aggregator, monitor.reports,"
        " monitor.store.sql"
    ),
}


def floors(runs: int) -> dict[str, float | None]:
    """What a command costs before it works: the interpreter, then the imports."""
    python = [sys.executable]
    return {
        "python_bare_ms": _wall_ms([*python, "-c", "pass"], runs),
        "python_start_ms": _wall_ms([*python, "-m", "monitor", "--version"], runs),
        "report_imports_ms": _wall_ms([*python, "-c", _COMMAND_IMPORTS["report"]], runs),
        "profile_imports_ms": _wall_ms([*python, "-c", _COMMAND_IMPORTS["profile"]], runs),
    }


async def _api_profile_ms(daemon: Daemon, model: str, runs: int) -> float | None:
    app = create_app(daemon)
    transport = httpx.ASGITransport(app=app)
    times = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(runs):
            start = time.perf_counter()
            response = await client.get(f"/api/v1/models/{model}/profile")
            response.raise_for_status()
            times.append(time.perf_counter() - start)
    return ms(quantile(times, 0.5))


def _fill(backend: str, url: str, endpoints: list[str], start: datetime, minutes: int) -> float:
    if backend == "sqlite":
        path = make_url(url).database
        assert path is not None
        return fill_sqlite(Path(path), endpoints, start, minutes)
    return fill_postgres(url, endpoints, start, minutes)


def postgres_admin() -> psycopg.Connection[Any]:
    """An autocommit connection to the server of ``POSTGRES_ADMIN`` (to create and drop
    databases)."""
    libpq = make_url(POSTGRES_ADMIN).set(drivername="postgresql").render_as_string(False)
    return psycopg.connect(libpq, autocommit=True)


def _delete_probes(url: str, ids: list[str]) -> None:
    """Delete these probes (the insert-rate batches, which must not pile up in a kept store)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        lite = sqlite3.connect(parsed.database or "", isolation_level=None)
        try:
            lite.executemany("DELETE FROM probes WHERE probe_id = ?", [(i,) for i in ids])
        finally:
            lite.close()
        return
    libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute("DELETE FROM probes WHERE probe_id = ANY(%s)", [ids])


def _prepare(
    backend: str, days: float, tmp: Path, keep: Path | None, endpoints: list[str], now: datetime
) -> tuple[str, dict[str, Any], Callable[[], None] | None]:
    """The URL of a database holding ``days`` of probes ending at ``now`` (filled, or topped
    up when ``keep`` holds one), what building it cost, and what drops it afterwards."""
    minutes = int(days * 24 * 60)
    state_path = keep / f"state-{backend}-{days:g}d.json" if keep else None
    state: dict[str, Any] | None = None
    if state_path is not None and state_path.exists():
        state = json.loads(state_path.read_text(encoding="utf-8"))
    if state is not None:
        url = str(state["url"])
        end = datetime.fromisoformat(state["end"])
        gap = int((now - end).total_seconds() // 60)
        store = open_store(url)
        try:
            if gap > 0:
                if gap >= minutes:
                    raise SystemExit(f"{state_path} is older than --days; delete it and {url}")
                _fill(backend, url, endpoints, end, gap)
            deleted = store.delete_probes_before(now - timedelta(minutes=minutes))
        finally:
            store.close()
        print(
            f"# {backend}: reusing {url}: {gap * len(endpoints):,} rows added, "
            f"{deleted:,} older than {days:g} days deleted",
            flush=True,
        )
        state["end"] = now.isoformat()
        assert state_path is not None
        state_path.write_text(json.dumps(state), encoding="utf-8")
        return url, state, None

    dropper: Callable[[], None] | None = None
    if backend == "sqlite":
        folder = keep if keep is not None else tmp
        url = f"sqlite:///{folder / f'storage-{days:g}d.db'}"
    else:
        name = f"llm_monitor_bench_{uuid.uuid4().hex[:8]}"
        if keep is not None:
            name = f"llm_monitor_bench_keep_{days:g}d".replace(".", "_")
        admin = postgres_admin()
        if keep is not None:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(False)
        if keep is None:

            def dropper() -> None:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                admin.close()

        else:
            admin.close()
    store = open_store(url)
    try:
        store.upgrade()
    finally:
        store.close()
    fill = _fill(backend, url, endpoints, now - timedelta(minutes=minutes), minutes)
    print(
        f"# {backend}: {minutes * len(endpoints):,} rows bulk-inserted in {fill:.0f} s", flush=True
    )
    built = {"url": url, "end": now.isoformat(), "bulk_fill_s": fill}
    if state_path is not None:
        state_path.write_text(json.dumps(built), encoding="utf-8")
    return url, built, dropper


def measure(
    backend: str, days: float, runs: int, tmp: Path, keep: Path | None = None
) -> dict[str, Any]:
    """Fill one backend (or top up the one kept in ``keep``) and time everything."""
    endpoints = [f"e{i:03d}" for i in range(ENDPOINTS)]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = int(days * 24 * 60)
    start = now - timedelta(minutes=minutes)
    url, built, dropper = _prepare(backend, days, tmp, keep, endpoints, now)
    try:
        store = open_store(url)
        rows = minutes * ENDPOINTS
        config, config_path = _config(tmp, url, endpoints)
        aggregator = Aggregator(config, store, publish=lambda snapshot: None)
        began = time.perf_counter()
        windows = aggregator.backfill()
        backfill = time.perf_counter() - began
        print(f"# {backend}: backfill of {len(windows)} windows in {backfill:.1f} s", flush=True)
        if "backfill_s" not in built:
            built["backfill_s"] = backfill
            built["backfill_windows"] = len(windows)
            if keep is not None:
                state_path = keep / f"state-{backend}-{days:g}d.json"
                state_path.write_text(json.dumps(built), encoding="utf-8")

        # Insert rate, in the sink's batches, into the full table (then removed again).
        moment = now - timedelta(seconds=5)
        batches = [[_probe(endpoints[i % ENDPOINTS], moment) for i in range(500)] for _ in range(8)]
        insert_times = []
        for batch in batches:
            began = time.perf_counter()
            store.add_probes(batch)
            insert_times.append(time.perf_counter() - began)
        insert_rate = 500 * len(batches) / sum(insert_times)
        _delete_probes(url, [p.probe_id for batch in batches for p in batch])

        # One window of 1,000 endpoints x 30 probes (fixed ids: a kept store does not grow).
        big = [f"r{i:04d}" for i in range(ROLLUP_ENDPOINTS)]
        target = window_start(start, WINDOW) - timedelta(seconds=WINDOW)
        added = [
            _probe(e, target + timedelta(minutes=m, seconds=7), f"rollup-{target:%s}-{e}-{m}")
            for m in range(30)
            for e in big
        ]
        for i in range(0, len(added), 5000):
            store.add_probes(added[i : i + 5000])
        big_config, _ = _config(tmp, url, big)
        rollup_times = timed(lambda: roll_window(big_config, store, target, now), runs)

        # The report and the profile on the 30-day table, in this process.
        null = Console(file=io.StringIO(), width=120)

        def report() -> None:
            render_table(build_report(config, store, now=datetime.now(UTC)), null)

        def profile() -> None:
            spec = config.models[0]
            render_profile(
                spec,
                model_profile(config, store, spec.id, datetime.now(UTC)),
                WINDOW,
                config.schema.profile.uptime_window,
                null,
            )

        report_times = timed(report, runs)
        snapshot_times = timed(lambda: snapshot(config, store, datetime.now(UTC)), runs)
        profile_times = timed(profile, runs)
        daemon = Daemon(config, store=store)
        daemon.aggregator.latest = snapshot(config, store, datetime.now(UTC))
        api_ms = asyncio.run(_api_profile_ms(daemon, "gpt-4.1-nano", runs * 4))
        command_runs = max(runs // 2, 1)
        report_command = _command(["report"], config_path, command_runs)
        profile_command = _command(["profile", "gpt-4.1-nano"], config_path, command_runs)
        store.close()
        return {
            "backend": backend,
            "days": days,
            "rows": rows,
            "bulk_fill_s": built["bulk_fill_s"],
            "backfill_windows": built["backfill_windows"],
            "backfill_s": built["backfill_s"],
            "reused": keep is not None and built["backfill_s"] != backfill,
            "insert_rows_per_s": insert_rate,
            "rollup_1000_ms": ms(quantile(rollup_times, 0.5)),
            "report_inprocess_ms": ms(quantile(report_times, 0.5)),
            "report_command_ms": report_command,
            "snapshot_ms": ms(quantile(snapshot_times, 0.5)),
            "profile_inprocess_ms": ms(quantile(profile_times, 0.5)),
            "profile_api_ms": api_ms,
            "profile_command_ms": profile_command,
            **floors(command_runs),
        }
    finally:
        if dropper is not None:
            dropper()


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write the JSON)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--backends", default="sqlite,postgresql")
    args_parser.add_argument("--days", type=float, default=None, help="default 30 (quick: 3)")
    args_parser.add_argument("--runs", type=int, default=None)
    args_parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the filled databases (state in DIR) and reuse them in later runs",
    )
    args = args_parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    days = args.days or (3.0 if args.quick else 30.0)
    runs = args.runs or (3 if args.quick else 7)
    rows = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="llm-monitor-bench-") as tmp:
            rows.append(measure(backend, days, runs, Path(tmp), args.keep))
        print(f"# {rows[-1]}", flush=True)
    print_table(
        f"Store with {days:g} days of probes of {ENDPOINTS} endpoints at 1/min "
        f"(median of {runs}; targets: rollup < 1 s, report and profile < 200 ms)",
        [
            Column("backend", "backend"),
            Column("rows", "rows", ","),
            Column("bulk_fill_s", "bulk fill s", ".0f"),
            Column("backfill_s", "backfill s", ".1f"),
            Column("insert_rows_per_s", "add_probes rows/s", ",.0f"),
            Column("rollup_1000_ms", "roll_window 1,000 ep ms", ".0f"),
            Column("report_inprocess_ms", "report in-process ms", ".0f"),
            Column("snapshot_ms", "snapshot ms", ".0f"),
            Column("profile_inprocess_ms", "profile in-process ms", ".0f"),
            Column("profile_api_ms", "GET profile ms", ".1f"),
        ],
        rows,
    )
    print_table(
        f"Commands as fresh processes (median of {max(runs // 2, 1)}): the whole command, and "
        "its floor, what it costs before any work (interpreter, then imports)",
        [
            Column("backend", "backend"),
            Column("report_command_ms", "report command ms", ".0f"),
            Column("profile_command_ms", "profile command ms", ".0f"),
            Column("python_bare_ms", "`python -c pass` ms", ".0f"),
            Column("python_start_ms", "`--version` ms", ".0f"),
            Column("report_imports_ms", "report imports ms", ".0f"),
            Column("profile_imports_ms", "profile imports ms", ".0f"),
        ],
        rows,
    )
    write_json(args.json, "storage", args, rows)


if __name__ == "__main__":
    main()
