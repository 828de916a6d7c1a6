"""Accuracy: TTFT and output-speed error of the daemon vs the official ``openai`` SDK.

    python -m bench accuracy [--quick] [--sizes 1,50,200,1000] [--simulators 1] [--json PATH]

For each size N the whole daemon runs in this process (``bench.harness``: the product's
``Daemon`` with its ``ProbeScheduler``, ``ProbeRunner``, sink, SQLite store and HTTP server,
scraped every 15 s) with 3·N endpoints spread over one interval by the product's scheduler:

- ``p…``: the product's probe (``ProbeRunner``);
- ``s…``: the obvious SDK probe (``bench.sdkprobe``) on one shared ``AsyncOpenAI`` client per
  simulator, as a careful user would write it;
- ``n…``: the same with a fresh ``AsyncOpenAI`` client per probe (``async with``), as a naive
  user would.

All three run on the daemon's measuring loop, scheduled by the same scheduler, against the same
simulated endpoint (300 ms TTFT, 100 tok/s, 40 tokens, log-normal spread) in separate
processes pinned to the other core (the daemon is pinned to core 0). Truth, on one
CLOCK_MONOTONIC: true TTFT = simulator's first-content write − probe's request write (see
``bench/ttft_overhead.py``); true speed = the simulator's from its send times. The error of a
TTFT is measured − true. The simulator's own lateness (first-content write − request read −
its planned TTFT) shows whether the simulator kept up.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from bench.common import Column, parser, pin, print_table, split_cpus, summary, write_json
from bench.harness import (
    KEY,
    SIM_ENDPOINT,
    Recorder,
    base_of,
    config_text,
    endpoints_for,
    free_port,
    load,
    run_daemon,
)
from bench.sdkprobe import CURRENT_STAMP, WriteStamp, install_write_stamp, obvious_probe
from bench.simproc import simulator_processes, truths
from monitor.config import Endpoint
from monitor.outcomes import Outcome
from monitor.result import ProbeResult
from monitor.runner import ProbeRunner

KINDS = {"p": "llm-monitor", "s": "SDK, shared client", "n": "SDK, client per probe"}


@dataclass(frozen=True)
class Size:
    """One size of the run: N endpoints of each kind every ``interval`` seconds."""

    endpoints: int
    interval: float
    warmup: float
    measure: float


FULL = (Size(1, 2.0, 5, 300), Size(50, 10, 10, 60), Size(200, 20, 20, 80), Size(1000, 60, 15, 120))
QUICK = (Size(1, 2.0, 2, 20), Size(50, 10, 3, 15), Size(200, 20, 3, 15), Size(1000, 60, 3, 20))


class ComparisonRunner(ProbeRunner):
    """The product's runner for ``p…`` endpoints, the obvious SDK probe for ``s…`` and ``n…``."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(observer=recorder.observe)
        self._recorder = recorder
        self._shared: dict[str, AsyncOpenAI] = {}
        recorder.extra.setdefault("sdk_called_ns", {})

    async def probe(self, endpoint: Endpoint) -> ProbeResult:
        """Probe with the product or with the SDK, by the endpoint id's first letter."""
        kind = endpoint.id[0]
        if kind == "p":
            return await super().probe(endpoint)
        return await self._sdk(endpoint, shared=kind == "s")

    async def _sdk(self, endpoint: Endpoint, *, shared: bool) -> ProbeResult:
        probe_id = uuid.uuid4().hex
        started_at = datetime.now(UTC)
        stamp = WriteStamp()
        token = CURRENT_STAMP.set(stamp)
        model = endpoint.model.id
        try:
            if shared:
                client = self._shared.get(endpoint.base_url)
                if client is None:
                    client = AsyncOpenAI(api_key=KEY, base_url=endpoint.base_url)
                    self._shared[endpoint.base_url] = client
                measured = await obvious_probe(client, model)
            else:
                async with AsyncOpenAI(api_key=KEY, base_url=endpoint.base_url) as client:
                    measured = await obvious_probe(client, model)
        except Exception as exc:  # recorded like a product failure, never raised
            return ProbeResult(
                probe_id=probe_id, endpoint=endpoint.id, provider=endpoint.provider, model=model,
                api=endpoint.api, region=None, outcome=Outcome.PROTOCOL_ERROR,
                started_at=started_at, error=f"{type(exc).__name__}: {exc}"[:200],
            )  # fmt: skip
        finally:
            CURRENT_STAMP.reset(token)
        if stamp.written_ns is not None:
            self._recorder.request_written_ns[probe_id] = stamp.written_ns
        self._recorder.extra["sdk_called_ns"][probe_id] = measured.called_ns
        ok = measured.first_content_ns is not None
        return ProbeResult(
            probe_id=probe_id,
            endpoint=endpoint.id,
            provider=endpoint.provider,
            model=model,
            api=endpoint.api,
            region=None,
            outcome=Outcome.SUCCESS if ok else Outcome.EMPTY_RESPONSE,
            started_at=started_at,
            http_status=200,
            ttft_seconds=measured.ttft_seconds,
            output_tokens=measured.output_tokens,
            output_tokens_per_second=measured.output_tokens_per_second,
            content_chunks=measured.content_chunks,
            provider_request_id=measured.request_id,
        )

    async def aclose(self) -> None:
        """Close the shared SDK clients and the product's connections."""
        for client in self._shared.values():
            await client.close()
        await super().aclose()


def measure_size(
    size: Size, bases: list[str], kinds: str, tmp: Path, proposed_metrics: bool = False
) -> dict[str, Any]:
    """Run the daemon at one size and compare every probe with the simulator's truth."""
    install_write_stamp()
    endpoints: list[tuple[str, str]] = []
    for offset, kind in enumerate(kinds):
        endpoints += endpoints_for(kind, size.endpoints, bases, offset=offset)
    # Interleave the kinds so that their first runs alternate along the interval.
    endpoints.sort(key=lambda item: (item[0][1:], item[0][0]))
    text = config_text(
        endpoints,
        interval=size.interval,
        timeout=min(10.0, size.interval),
        storage_url=f"sqlite:///{tmp / f'accuracy-{size.endpoints}.db'}",
        port=free_port(),
    )
    config = load(text)
    recorder = Recorder()
    run = run_daemon(
        config,
        recorder,
        warmup=size.warmup,
        measure=size.measure,
        runner_factory=ComparisonRunner,
        simulators=bases,
        proposed_metrics=proposed_metrics,
        log_path=tmp / f"accuracy-{size.endpoints}.log",
    )
    start, end = recorder.extra["measure_start"], recorder.extra["measure_end"]
    base = {e.id: base_of(e) for e in config.endpoints}
    chosen = [
        r
        for r in recorder.results
        if (w := recorder.request_written_ns.get(r.probe_id)) is not None and start <= w / 1e9 < end
    ]
    wanted = {r.provider_request_id: base[r.endpoint] for r in chosen if r.provider_request_id}
    truth = truths(wanted)
    called = recorder.extra["sdk_called_ns"]
    per_kind: dict[str, dict[str, list[float]]] = {
        k: {"ttft": [], "speed": [], "pre": [], "late": [], "sim_late": []} for k in kinds
    }
    failures = dict.fromkeys(kinds, 0)
    for result in chosen:
        kind = result.endpoint[0]
        sent = truth.get(result.provider_request_id or "")
        if not result.ok or sent is None or result.ttft_seconds is None:
            failures[kind] += 1
            continue
        written = recorder.request_written_ns[result.probe_id]
        lists = per_kind[kind]
        true_ttft_ns = sent["first_content_sent_ns"] - written
        lists["ttft"].append((result.ttft_seconds * 1e9 - true_ttft_ns) / 1e6)
        real = sent["output_tokens_per_second"]
        if result.output_tokens_per_second and real:
            lists["speed"].append(abs(result.output_tokens_per_second / real - 1) * 100)
        if result.probe_id in called:
            lists["pre"].append((written - called[result.probe_id]) / 1e6)
        lists["late"].append((sent["received_ns"] - written) / 1e6)
        planned = sent["planned_ttft_seconds"] or 0.0
        sim_ttft = (sent["first_content_sent_ns"] - sent["received_ns"]) / 1e9
        lists["sim_late"].append((sim_ttft - planned) * 1000)
    delays = [s * 1000 for t, _e, s in recorder.delays if start <= t < end]
    lags = [s * 1000 for t, s in recorder.lags if start <= t < end]
    rows = []
    for kind in kinds:
        lists = per_kind[kind]
        ttft, speed = summary(lists["ttft"]), summary(lists["speed"])
        rows.append(
            {
                "endpoints": size.endpoints,
                "interval_s": size.interval,
                "probe": KINDS[kind],
                "kind": kind,
                "samples": ttft["n"],
                "failures": failures[kind],
                "ttft_error_ms": ttft,
                "speed_error_pct": speed,
                "before_write_ms": summary(lists["pre"]) if lists["pre"] else None,
                "request_seen_late_ms": summary(lists["late"]),
                "simulator_late_ms": summary(lists["sim_late"]),
            }
        )
    product = rows[0] if kinds[0] == "p" else None
    for row in rows:
        if product is not None:
            row["ttft_error_ratio_p50"] = _ratio(row, product, "p50")
            row["ttft_error_ratio_p99"] = _ratio(row, product, "p99")
    sim_cpu = sum(run.simulator_cpu_seconds.values())
    return {
        "size": size.__dict__,
        "rows": rows,
        "daemon": {
            "cpu_percent": 100 * run.cpu_seconds / run.seconds,
            "rss_mb_peak": run.rss_mb_peak,
            "missed_runs": run.missed_runs,
            "scheduling_delay_ms": summary(delays),
            "loop_lag_ms": summary(lags),
            "simulators": len(bases),
            "simulator_cpu_percent": 100 * sim_cpu / run.seconds,
        },
    }


def _pass_name(kinds: str) -> str:
    return "alone" if kinds == "p" else "+".join(kinds)


def _ratio(row: dict[str, Any], product: dict[str, Any], stat: str) -> float | None:
    mine, theirs = row["ttft_error_ms"][stat], product["ttft_error_ms"][stat]
    if mine is None or not theirs:
        return None
    return float(mine / theirs)


def _flat(measured: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, health = [], []
    for one in measured:
        for row in one["rows"]:
            flat = {k: v for k, v in row.items() if not isinstance(v, dict)}
            flat["pass"] = _pass_name(one["pass"])
            for name in ("ttft_error_ms", "speed_error_pct"):
                for stat in ("p50", "p95", "p99", "max"):
                    flat[f"{name}_{stat}"] = row[name][stat]
            before = row["before_write_ms"]
            flat["before_write_ms_p50"] = before["p50"] if before else None
            rows.append(flat)
        daemon = one["daemon"]
        health.append(
            {
                "pass": _pass_name(one["pass"]),
                "endpoints": one["size"]["endpoints"],
                "probes_per_s": len(one["pass"])
                * one["size"]["endpoints"]
                / one["size"]["interval"],
                "cpu_percent": daemon["cpu_percent"],
                "delay_p50": daemon["scheduling_delay_ms"]["p50"],
                "delay_p99": daemon["scheduling_delay_ms"]["p99"],
                "lag_p99": daemon["loop_lag_ms"]["p99"],
                "lag_max": daemon["loop_lag_ms"]["max"],
                "missed": daemon["missed_runs"],
                "seen_late_p99": max(
                    (r["request_seen_late_ms"]["p99"] or 0.0) for r in one["rows"]
                ),
                "sim_late_p50": one["rows"][0]["simulator_late_ms"]["p50"],
                "sim_late_p99": max((r["simulator_late_ms"]["p99"] or 0.0) for r in one["rows"]),
                "sim_cpu": daemon["simulator_cpu_percent"],
            }
        )
    return rows, health


def main(argv: list[str] | None = None) -> None:
    """Run every size, print the tables, write the JSON."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--sizes", help="comma-separated endpoint counts (default: all)")
    args_parser.add_argument("--simulators", type=int, default=1, help="simulator processes")
    args_parser.add_argument(
        "--metrics",
        choices=("today", "proposed"),
        default="today",
        help="serve /metrics as monitor/api.py does today, or as docs/benchmarks.md proposes",
    )
    args_parser.add_argument(
        "--passes",
        default="p,psn",
        help="comma-separated passes, each a set of probe kinds run together (p: llm-monitor, "
        "s: SDK with a shared client, n: SDK with a client per probe); default: the product "
        "alone, then all three together",
    )
    args = args_parser.parse_args(argv)
    sizes: tuple[Size, ...] = QUICK if args.quick else FULL
    if args.sizes:
        wanted = {int(x) for x in args.sizes.split(",")}
        sizes = tuple(s for s in sizes if s.endpoints in wanted)
    daemon_cpus, sim_cpus = split_cpus()
    pin(daemon_cpus)
    measured = []
    sim = [SIM_ENDPOINT]
    with (
        tempfile.TemporaryDirectory() as tmp,
        simulator_processes(args.simulators, sim, cpus=sim_cpus) as bases,
    ):
        for kinds in args.passes.split(","):
            for size in sizes:
                began = time.perf_counter()
                one = measure_size(size, bases, kinds, Path(tmp), args.metrics == "proposed")
                one["pass"] = kinds
                measured.append(one)
                print(
                    f"# {kinds}: {size.endpoints} endpoints, {time.perf_counter() - began:.0f} s",
                    flush=True,
                )
    rows, health = _flat(measured)
    print_table(
        "TTFT error (measured − true, ms) and output-speed error (|measured/true − 1|, %)",
        [
            Column("pass", "run"),
            Column("endpoints", "endpoints"),
            Column("probe", "probe"),
            Column("samples", "samples"),
            Column("failures", "failed"),
            Column("ttft_error_ms_p50", "TTFT err p50", ".2f"),
            Column("ttft_error_ms_p95", "p95", ".2f"),
            Column("ttft_error_ms_p99", "p99", ".2f"),
            Column("ttft_error_ms_max", "max", ".1f"),
            Column("ttft_error_ratio_p50", "× product p50", ".1f"),
            Column("ttft_error_ratio_p99", "× product p99", ".1f"),
            Column("speed_error_pct_p50", "speed err % p50", ".2f"),
            Column("speed_error_pct_p95", "p95", ".2f"),
            Column("before_write_ms_p50", "SDK before write ms p50", ".2f"),
        ],
        rows,
    )
    print_table(
        "The daemon's loop and the simulators at each size (measured span; ms unless stated)",
        [
            Column("pass", "run"),
            Column("endpoints", "endpoints per kind"),
            Column("probes_per_s", "probes/s", ".1f"),
            Column("cpu_percent", "daemon CPU %", ".1f"),
            Column("delay_p50", "sched delay p50", ".2f"),
            Column("delay_p99", "p99", ".2f"),
            Column("lag_p99", "loop lag p99", ".2f"),
            Column("lag_max", "max", ".1f"),
            Column("missed", "missed runs", ".0f"),
            Column("seen_late_p99", "request seen late p99", ".2f"),
            Column("sim_late_p50", "simulator late p50", ".2f"),
            Column("sim_late_p99", "p99", ".2f"),
            Column("sim_cpu", "simulator CPU %", ".1f"),
        ],
        health,
    )
    write_json(args.json, "accuracy", args, measured)


def run_quick(json_path: Path | None = None) -> None:
    """The variant ``python -m bench all`` runs."""
    main(["--quick", *(["--json", str(json_path)] if json_path else [])])


if __name__ == "__main__":
    main()
