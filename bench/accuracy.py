"""Accuracy: TTFT and output-speed error of the daemon vs the official ``openai`` SDK.

    python -m bench accuracy [--quick] [--sizes 1,50,200,1000] [--simulators 1] [--json PATH]
                             [--passes p,p/s/n] [--same-loop] [--sdk-cpus simulators]

For each size N the whole daemon runs in this process (``bench.harness``: the product's
``Daemon`` with its ``ProbeScheduler``, ``ProbeRunner``, sink, SQLite store and HTTP server,
scraped every 15 s), pinned to core 0, with endpoints spread over one interval by the product's
scheduler. Three kinds of probe, N endpoints each:

- ``p…``: the product's probe (``ProbeRunner``);
- ``s…``: the obvious SDK probe (``bench.sdkprobe``) on one shared ``AsyncOpenAI`` client per
  simulator, as a careful user would write it;
- ``n…``: the same with a fresh ``AsyncOpenAI`` client per probe (``async with``), as a naive
  user would.

A pass says which kinds run where (``--passes``, comma-separated):

- ``p`` ("alone"): the product alone on the daemon's loop;
- ``p/s/n`` (default): the product on the daemon's loop and, in the same time window against
  the same simulators, each SDK variant in its own process (``bench.sdkproc``: its own
  interpreter and event loop, the same interval, its endpoints spread over it the same way), as
  a user runs their own probe script. ``p/sn`` puts both SDK variants in one process;
- ``psn`` (``--same-loop``): all three on the daemon's loop, scheduled by the same scheduler.
  The SDK's CPU work (client construction, pydantic) then stalls the product's loop, so the
  tails of both are the shared loop's lag: not a comparison of the probes themselves.

The simulator (300 ms TTFT, 100 tok/s, 40 tokens, log-normal spread) runs in separate processes
pinned to the other core(s); so do the SDK processes unless ``--sdk-cpus`` says otherwise.
Truth, on one CLOCK_MONOTONIC (every process stamps with ``perf_counter_ns``): true TTFT =
simulator's first-content write − probe's request write (see ``bench/ttft_overhead.py``); true
speed = the simulator's from its send times. The error of a TTFT is measured − true. The
simulator's own lateness (first-content write − request read − its planned TTFT) shows whether
the simulator kept up.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from bench.common import (
    Column,
    cpu_seconds,
    parser,
    pin,
    print_table,
    split_cpus,
    summary,
    write_json,
)
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
from bench.sdkprobe import (
    CURRENT_STAMP,
    SdkMeasurement,
    WriteStamp,
    install_write_stamp,
    obvious_probe,
)
from bench.sdkproc import SdkProcess, sdk_process
from bench.simproc import simulator_processes, truths
from monitor.config import Endpoint
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner

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
                probe_id=probe_id,
                endpoint=endpoint.id,
                provider=endpoint.provider,
                model=model,
                api=endpoint.api,
                region=None,
                outcome=Outcome.PROTOCOL_ERROR,
                started_at=started_at,
                error=f"{type(exc).__name__}: {exc}"[:200],
            )
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


@dataclass
class Sample:
    """One probe of any kind, reduced to what the comparison needs."""

    endpoint: str
    ok: bool
    request_id: str | None
    written_ns: int | None
    ttft_seconds: float | None
    tokens_per_second: float | None
    called_ns: int | None = None


def _daemon_samples(recorder: Recorder) -> list[Sample]:
    called = recorder.extra.get("sdk_called_ns", {})
    return [
        Sample(
            endpoint=r.endpoint,
            ok=r.ok,
            request_id=r.provider_request_id,
            written_ns=recorder.request_written_ns.get(r.probe_id),
            ttft_seconds=r.ttft_seconds,
            tokens_per_second=r.output_tokens_per_second,
            called_ns=called.get(r.probe_id),
        )
        for r in recorder.results
    ]


def _process_samples(probes: list[dict[str, Any]]) -> list[Sample]:
    samples = []
    for probe in probes:
        measured = None
        if "error" not in probe:
            measured = SdkMeasurement(
                called_ns=probe["called_ns"],
                first_content_ns=probe["first_content_ns"],
                last_content_ns=probe["last_content_ns"],
                content_chunks=probe["content_chunks"],
                output_tokens=probe["output_tokens"],
                request_id=probe["request_id"],
            )
        samples.append(
            Sample(
                endpoint=probe["endpoint"],
                ok=measured is not None and measured.first_content_ns is not None,
                request_id=measured.request_id if measured else None,
                written_ns=probe["written_ns"],
                ttft_seconds=measured.ttft_seconds if measured else None,
                tokens_per_second=measured.output_tokens_per_second if measured else None,
                called_ns=measured.called_ns if measured else None,
            )
        )
    return samples


def _in_window(values: list[tuple[float, float]], start: float, end: float) -> list[float]:
    return [v * 1000 for t, v in values if start <= t < end]


def measure_size(
    size: Size,
    bases: list[str],
    kinds: str,
    tmp: Path,
    sdk_groups: tuple[str, ...] = (),
    sdk_cpus: set[int] | None = None,
) -> dict[str, Any]:
    """Run the daemon at one size and compare every probe with the simulator's truth.

    ``kinds`` run in the daemon, on its measuring loop; each of ``sdk_groups`` (kinds ``s``
    and/or ``n``) runs in its own ``bench.sdkproc`` process, with its own loop, on the same
    schedule, in the same time window, against the same simulators (pinned to ``sdk_cpus``)."""
    install_write_stamp()
    endpoints: list[tuple[str, str]] = []
    for offset, kind in enumerate(kinds):
        endpoints += endpoints_for(kind, size.endpoints, bases, offset=offset)
    # Interleave the kinds so that their first runs alternate along the interval.
    endpoints.sort(key=lambda item: (item[0][1:], item[0][0]))
    timeout = min(10.0, size.interval)
    text = config_text(
        endpoints,
        interval=size.interval,
        timeout=timeout,
        storage_url=f"sqlite:///{tmp / f'accuracy-{size.endpoints}.db'}",
        port=free_port(),
    )
    config = load(text)
    recorder = Recorder()
    all_kinds = kinds + "".join(sdk_groups)
    base = {e.id: base_of(e) for e in config.endpoints}
    with contextlib.ExitStack() as stack:
        processes: list[SdkProcess] = []
        offset = len(kinds)
        for number, group in enumerate(sdk_groups):
            theirs: list[tuple[str, str]] = []
            for kind in group:
                theirs += endpoints_for(kind, size.endpoints, bases, offset=offset)
                offset += 1
            theirs.sort(key=lambda item: (item[0][1:], item[0][0]))
            base.update((endpoint_id, url.rsplit("/", 2)[0]) for endpoint_id, url in theirs)
            processes.append(
                stack.enter_context(
                    sdk_process(
                        theirs,
                        interval=size.interval,
                        timeout=timeout,
                        api_key=KEY,
                        out=tmp / f"sdk-{size.endpoints}-{number}.json",
                        cpus=sdk_cpus,
                    )
                )
            )
        cpu_start: dict[int, float] = {}

        def on_measure_start() -> None:
            for process in processes:
                cpu_start[process.pid] = cpu_seconds(process.pid)

        run = run_daemon(
            config,
            recorder,
            warmup=size.warmup,
            measure=size.measure,
            runner_factory=ComparisonRunner,
            simulators=bases,
            on_measure_start=on_measure_start,
            log_path=tmp / f"accuracy-{size.endpoints}.log",
        )
        start, end = recorder.extra["measure_start"], recorder.extra["measure_end"]
        wall = time.perf_counter() - start
        sdk_cpu = {p.pid: cpu_seconds(p.pid) - cpu_start[p.pid] for p in processes}
        seen = [
            (group, p, sdk_cpu[p.pid], p.stop())
            for group, p in zip(sdk_groups, processes, strict=True)
        ]
    samples = _daemon_samples(recorder)
    for _group, _process, _cpu, result in seen:
        samples += _process_samples(result["probes"])
    chosen = [s for s in samples if s.written_ns is not None and start <= s.written_ns / 1e9 < end]
    truth = truths({s.request_id: base[s.endpoint] for s in chosen if s.request_id})
    per_kind: dict[str, dict[str, list[float]]] = {
        k: {"ttft": [], "speed": [], "pre": [], "late": [], "sim_late": []} for k in all_kinds
    }
    failures = dict.fromkeys(all_kinds, 0)
    for sample in chosen:
        sent = truth.get(sample.request_id or "")
        kind = sample.endpoint[0]
        if not sample.ok or sent is None or sample.ttft_seconds is None:
            failures[kind] += 1
            continue
        written = sample.written_ns
        assert written is not None
        lists = per_kind[kind]
        true_ttft_ns = sent["first_content_sent_ns"] - written
        lists["ttft"].append((sample.ttft_seconds * 1e9 - true_ttft_ns) / 1e6)
        real = sent["output_tokens_per_second"]
        if sample.tokens_per_second and real:
            lists["speed"].append(abs(sample.tokens_per_second / real - 1) * 100)
        if sample.called_ns is not None:
            lists["pre"].append((written - sample.called_ns) / 1e6)
        lists["late"].append((sent["received_ns"] - written) / 1e6)
        planned = sent["planned_ttft_seconds"] or 0.0
        sim_ttft = (sent["first_content_sent_ns"] - sent["received_ns"]) / 1e9
        lists["sim_late"].append((sim_ttft - planned) * 1000)
    delays = [s * 1000 for t, _e, s in recorder.delays if start <= t < end]
    lags = [s * 1000 for t, s in recorder.lags if start <= t < end]
    rows = []
    for kind in all_kinds:
        lists = per_kind[kind]
        ttft, speed = summary(lists["ttft"]), summary(lists["speed"])
        rows.append(
            {
                "endpoints": size.endpoints,
                "interval_s": size.interval,
                "probe": KINDS[kind],
                "kind": kind,
                "where": "daemon's loop" if kind in kinds else "own process",
                "samples": ttft["n"],
                "failures": failures[kind],
                "ttft_error_ms": ttft,
                "speed_error_pct": speed,
                "before_write_ms": summary(lists["pre"]) if lists["pre"] else None,
                "request_seen_late_ms": summary(lists["late"]),
                "simulator_late_ms": summary(lists["sim_late"]),
            }
        )
    product = rows[0] if all_kinds[0] == "p" else None
    for row in rows:
        if product is not None:
            for stat in ("p50", "p95", "p99"):
                row[f"ttft_error_ratio_{stat}"] = _ratio(row, product, stat)
    sim_cpu = sum(run.simulator_cpu_seconds.values())
    sdk = []
    for group, _process, cpu, result in seen:
        sdk.append(
            {
                "kinds": group,
                "probes_per_s": len(group) * size.endpoints / size.interval,
                "cpu_percent": 100 * cpu / wall,
                "scheduling_delay_ms": summary(
                    [s * 1000 for t, _e, s in result["delays"] if start <= t < end]
                ),
                "loop_lag_ms": summary(_in_window(result["lags"], start, end)),
                "missed_runs": sum(n for t, _e, n in result["missed"] if start <= t < end),
            }
        )
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
        "sdk_processes": sdk,
    }


def _split_pass(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"p/s/n"`` -> (``"p"``, (``"s"``, ``"n"``)): the daemon's kinds, then one SDK process
    per ``/`` group."""
    daemon, *groups = spec.split("/")
    unknown = set(spec) - set(KINDS) - {"/"}
    if unknown or any(not g or "p" in g for g in groups) or not daemon:
        raise SystemExit(f"bad pass {spec!r}: want e.g. p, psn, p/s/n or p/sn")
    return daemon, tuple(groups)


def _pass_name(spec: str) -> str:
    return "alone" if spec == "p" else spec if "/" in spec else "+".join(spec)


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
                "probes_per_s": len(_split_pass(one["pass"])[0])
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


def _flat_sdk(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "pass": _pass_name(one["pass"]),
            "endpoints": one["size"]["endpoints"],
            "kinds": "+".join(KINDS[k] for k in process["kinds"]),
            "probes_per_s": process["probes_per_s"],
            "cpu_percent": process["cpu_percent"],
            "delay_p50": process["scheduling_delay_ms"]["p50"],
            "delay_p99": process["scheduling_delay_ms"]["p99"],
            "lag_p99": process["loop_lag_ms"]["p99"],
            "lag_max": process["loop_lag_ms"]["max"],
            "missed": process["missed_runs"],
        }
        for one in measured
        for process in one["sdk_processes"]
    ]


def main(argv: list[str] | None = None) -> None:
    """Run every size, print the tables, write the JSON."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--sizes", help="comma-separated endpoint counts (default: all)")
    args_parser.add_argument("--simulators", type=int, default=1, help="simulator processes")
    args_parser.add_argument(
        "--passes",
        default="p,p/s/n",
        help="comma-separated passes. Each pass is the probe kinds run together on the daemon's "
        "loop (p: llm-monitor, s: SDK with a shared client, n: SDK with a client per probe), "
        "then, after each '/', the kinds run by one separate SDK process with its own loop. "
        "Default: the product alone, then the product with each SDK variant in its own process "
        "(p/s/n); 'psn' is everything on the daemon's loop, 'p/sn' one process for both SDK "
        "variants",
    )
    args_parser.add_argument(
        "--same-loop",
        action="store_true",
        help="also run 'psn': the SDK probes on the daemon's own loop (they stall the product)",
    )
    args_parser.add_argument(
        "--sdk-cpus",
        choices=("simulators", "daemon", "any"),
        default="simulators",
        help="where the SDK processes run: on the simulators' cores (default: the daemon keeps "
        "its core to itself, as it does alone), on the daemon's, or anywhere",
    )
    args = args_parser.parse_args(argv)
    passes = args.passes.split(",") + (["psn"] if args.same_loop else [])
    for spec in passes:
        _split_pass(spec)
    sizes: tuple[Size, ...] = QUICK if args.quick else FULL
    if args.sizes:
        wanted = {int(x) for x in args.sizes.split(",")}
        sizes = tuple(s for s in sizes if s.endpoints in wanted)
    daemon_cpus, sim_cpus = split_cpus()
    sdk_cpus = {"simulators": sim_cpus, "daemon": daemon_cpus}.get(
        args.sdk_cpus, (daemon_cpus or set()) | (sim_cpus or set()) or None
    )
    pin(daemon_cpus)
    measured = []
    sim = [SIM_ENDPOINT]
    with (
        tempfile.TemporaryDirectory() as tmp,
        simulator_processes(args.simulators, sim, cpus=sim_cpus) as bases,
    ):
        for spec in passes:
            kinds, groups = _split_pass(spec)
            for size in sizes:
                began = time.perf_counter()
                one = measure_size(size, bases, kinds, Path(tmp), groups, sdk_cpus)
                one["pass"] = spec
                measured.append(one)
                print(
                    f"# {spec}: {size.endpoints} endpoints, {time.perf_counter() - began:.0f} s",
                    flush=True,
                )
    rows, health = _flat(measured)
    print_table(
        "TTFT error (measured − true, ms) and output-speed error (|measured/true − 1|, %)",
        [
            Column("pass", "run"),
            Column("endpoints", "endpoints"),
            Column("probe", "probe"),
            Column("where", "runs on"),
            Column("samples", "samples"),
            Column("failures", "failed"),
            Column("ttft_error_ms_p50", "TTFT err p50", ".2f"),
            Column("ttft_error_ms_p95", "p95", ".2f"),
            Column("ttft_error_ms_p99", "p99", ".2f"),
            Column("ttft_error_ms_max", "max", ".1f"),
            Column("ttft_error_ratio_p50", "× product p50", ".1f"),
            Column("ttft_error_ratio_p95", "× product p95", ".1f"),
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
    sdk_rows = _flat_sdk(measured)
    if sdk_rows:
        print_table(
            "The separate SDK processes, same span (each its own loop; ms unless stated)",
            [
                Column("pass", "run"),
                Column("endpoints", "endpoints per kind"),
                Column("kinds", "probes"),
                Column("probes_per_s", "probes/s", ".1f"),
                Column("cpu_percent", "CPU %", ".1f"),
                Column("delay_p50", "sched delay p50", ".2f"),
                Column("delay_p99", "p99", ".2f"),
                Column("lag_p99", "loop lag p99", ".2f"),
                Column("lag_max", "max", ".1f"),
                Column("missed", "missed runs", ".0f"),
            ],
            sdk_rows,
        )
    write_json(args.json, "accuracy", args, measured)


def run_quick(json_path: Path | None = None) -> None:
    """The variant ``python -m bench all`` runs."""
    main(["--quick", *(["--json", str(json_path)] if json_path else [])])


if __name__ == "__main__":
    main()
