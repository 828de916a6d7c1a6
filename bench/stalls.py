"""TTFT error when the probing process is stopped while the first token arrives.

    python -m bench stalls [--quick] [--stalls 0.1,0.5,1] [--runs 3] [--json PATH]

A container's CPU quota, a busy host or a long pause of the process keeps a probe from reading
its socket. Here the probing process is stopped with SIGSTOP and continued with SIGCONT ``stall``
seconds later, the stop centred on the moment the simulator (in this process) sends the first
token; the probe's TTFT is compared with the simulator's ground truth (its send time, on the same
monotonic clock). Three probes, each in a process of its own (``bench.stallproc``): the product's
probe with kernel receive stamps (``LLM_MONITOR_KERNEL_STAMPS=on``, the default), the same with
the loop's read times (``off``), and the openai SDK as a user would time it (the first chunk its
stream yields; its request write stamped as in ``bench.sdkprobe``). Over HTTP and HTTPS.

Two streams:

- ``paused``: the server pauses 1.5 s after the first token, so nothing arrives behind it while
  the process is stopped: a kernel stamp is exact however long the stop;
- ``queued``: tokens every 50 ms, so those sent during the stop queue behind the first one and
  the kernel merges them into one read stamped with the newest arrival
  (docs/design.md#arrival-time): the error is bounded by how late the read came, and output
  speed is measured from the newest.

The error is TTFT measured − true TTFT, in ms (positive: reported too long).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from bench.common import Column, machine, parser, print_table, write_json
from monitor.simulator import Simulator, SimulatorConfig
from monitor.simulator.truth import RequestTruth

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-stalls-0123456789abcdef"
#: When the simulator sends the first token after reading the request (long enough to centre a
#: 1 s stop on it).
TTFT = 0.7
PAUSE = 1.5
TOKENS_PER_SECOND = 20.0
PROBES = ("kernel", "loop", "sdk")


class MissedStall(RuntimeError):
    """The stop did not cover the first token's send (a loaded machine)."""


@dataclass(frozen=True)
class StallRun:
    """One stopped probe against the truth."""

    ttft_error_ms: float
    #: Measured speed − true speed, in % of the true one (None when either is unknown).
    speed_error_pct: float | None
    #: From the first token's send to the continue: how late the process could first read it.
    late_ms: float
    stamp_source: str | None
    first_token_queued: bool | None


def self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (``NAME.pem``, ``NAME.key`` in
    ``folder``), made by ``openssl``."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed")
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=llm-monitor test", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def simulator_config(tokens_per_second: float = TOKENS_PER_SECOND) -> SimulatorConfig:
    """The two streams, ``paused`` and ``queued``, on a free port."""
    common = {"api_key": KEY, "ttft": f"{TTFT}s", "tokens_per_second": tokens_per_second}
    return SimulatorConfig.model_validate(
        {
            "port": 0,
            "seed": 5,
            "endpoints": [
                {"id": "paused", "pause_after_first_chunk": f"{PAUSE}s", **common},
                {"id": "queued", **common},
            ],
        }
    )


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The simulator's server context for ``cert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class Prober:
    """A ``bench.stallproc`` process: one probe per ``go``."""

    def __init__(self, probe: str, base_url: str, ca: Path | None = None) -> None:
        self.probe = probe
        self.base_url = base_url
        self.ca = ca
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Prober:
        env = {
            **os.environ,
            "SIM_KEY": KEY,
            "LLM_MONITOR_KERNEL_STAMPS": "off" if self.probe == "loop" else "on",
        }
        if self.ca is not None:
            env["STALL_CA"] = str(self.ca)
        which = "sdk" if self.probe == "sdk" else "monitor"
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.stallproc", which, self.base_url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
        )  # fmt: skip
        line = await asyncio.wait_for(self._stdout().readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"the {self.probe} probe process did not start: {line!r}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        os.kill(process.pid, signal.SIGCONT)
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()

    def _stdout(self) -> asyncio.StreamReader:
        assert self.process is not None and self.process.stdout is not None
        return self.process.stdout

    async def stalled(self, sim: Simulator, endpoint: str, stall: float) -> StallRun:
        """Probe ``endpoint`` once, stopped for ``stall`` seconds centred on its first token."""
        process = self.process
        assert process is not None and process.stdin is not None
        seen = {r.request_id for r in sim.recent(1000, endpoint)}
        process.stdin.write(b"go\n")
        await process.stdin.drain()
        record = await _received(sim, endpoint, seen)
        stop_at = record.received_ns + int((TTFT - stall / 2) * 1e9)
        await asyncio.sleep(max(0.0, (stop_at - perf_counter_ns()) / 1e9))
        os.kill(process.pid, signal.SIGSTOP)
        stopped = perf_counter_ns()
        await asyncio.sleep(stall)
        os.kill(process.pid, signal.SIGCONT)
        continued = perf_counter_ns()
        line = await asyncio.wait_for(self._stdout().readline(), 30)
        measured = json.loads(line)
        truth = sim.truth(measured["request_id"]) if measured["request_id"] else None
        if not measured["ok"] or truth is None or truth.ttft_seconds is None:
            raise RuntimeError(f"the {self.probe} probe failed: {measured}")
        sent = truth.first_content_sent_ns
        if sent is None or not stopped < sent < continued:
            raise MissedStall(f"the stop did not cover the first token ({self.probe})")
        speed, true_speed = measured["output_tokens_per_second"], truth.output_tokens_per_second
        return StallRun(
            ttft_error_ms=(measured["ttft_seconds"] - truth.ttft_seconds) * 1000,
            speed_error_pct=(speed / true_speed - 1) * 100 if speed and true_speed else None,
            late_ms=(continued - sent) / 1e6,
            stamp_source=measured.get("stamp_source"),
            first_token_queued=measured.get("first_token_queued"),
        )


async def _received(sim: Simulator, endpoint: str, seen: set[str]) -> RequestTruth:
    """The simulator's record of the next request to ``endpoint``, as soon as it is read."""
    for _ in range(30_000):  # 30 s
        for record in sim.recent(5, endpoint):
            if record.request_id not in seen:
                return record
        await asyncio.sleep(0.001)
    raise RuntimeError(f"no request reached {endpoint}")


async def stalled_runs(
    prober: Prober, sim: Simulator, endpoint: str, stall: float, runs: int
) -> list[StallRun]:
    """``runs`` stopped probes (a run whose stop missed the first token is done again, up to
    three times as many attempts in all)."""
    done: list[StallRun] = []
    for _attempt in range(runs * 3):
        try:
            done.append(await prober.stalled(sim, endpoint, stall))
        except MissedStall:
            continue
        if len(done) == runs:
            break
    if len(done) < runs:
        raise RuntimeError(f"only {len(done)} of {runs} stops covered the first token")
    return done


_PROBE_NAMES = {
    "kernel": "llm-monitor, kernel stamps",
    "loop": "llm-monitor, loop stamps",
    "sdk": "openai SDK",
}


def _row(
    scheme: str, probe: str, stream: str, stall: float, runs: list[StallRun]
) -> dict[str, Any]:
    errors = [r.ttft_error_ms for r in runs]
    speeds = [abs(r.speed_error_pct) for r in runs if r.speed_error_pct is not None]
    sources = sorted({r.stamp_source or "—" for r in runs})
    return {
        "scheme": scheme,
        "probe": _PROBE_NAMES[probe],
        "stream": stream,
        "stall_ms": round(stall * 1000),
        "runs": len(runs),
        "ttft_error_min": min(errors),
        "ttft_error_max": max(errors),
        "late_ms": sum(r.late_ms for r in runs) / len(runs),
        "speed_error_max": max(speeds) if speeds else None,
        "stamp_source": ",".join(sources),
        "queued": sum(1 for r in runs if r.first_token_queued),
    }


COLUMNS = [
    Column("scheme", "scheme"),
    Column("stream", "stream"),
    Column("stall_ms", "stop ms"),
    Column("probe", "probe"),
    Column("runs", "runs"),
    Column("ttft_error_min", "TTFT error min ms", ".1f"),
    Column("ttft_error_max", "TTFT error max ms", ".1f"),
    Column("late_ms", "read late by ms", ".0f"),
    Column("speed_error_max", "speed error max %", ".1f"),
    Column("stamp_source", "stamp_source"),
    Column("queued", "first token queued"),
]


async def measure(stalls: list[float], runs: int, streams: list[str]) -> list[dict[str, Any]]:
    """Every (scheme, stream, stall, probe) combination, ``runs`` times."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="llm-monitor-stalls-") as folder:
        cert, key = self_signed(Path(folder))
        for scheme in ("http", "https"):
            tls = tls_context(cert, key) if scheme == "https" else None
            async with Simulator(simulator_config(), tls=tls) as sim:
                for probe in PROBES:
                    for stream in streams:
                        url = sim.endpoint_url(stream)
                        ca = cert if scheme == "https" else None
                        async with Prober(probe, url, ca) as prober:
                            await prober.stalled(sim, stream, 0.05)  # connects, warms up
                            for stall in stalls:
                                done = await stalled_runs(prober, sim, stream, stall, runs)
                                rows.append(_row(scheme, probe, stream, stall, done))
                                print_table("", COLUMNS, rows[-1:])
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    options = parser(__doc__)
    options.add_argument("--stalls", default="0.1,0.5,1", help="stop lengths in seconds")
    options.add_argument("--runs", type=int, default=3)
    options.add_argument("--streams", default="paused,queued")
    args = options.parse_args(argv)
    stalls = [float(s) for s in args.stalls.split(",")]
    runs = args.runs
    if args.quick:
        stalls, runs = [0.5], 1
    info = machine()
    print(f"machine: {info['cpu']} (family {info['cpu_family']}, model {info['cpu_model']})")
    rows = asyncio.run(measure(stalls, runs, args.streams.split(",")))
    print_table("TTFT error under a stopped process", COLUMNS, rows)
    write_json(args.json, "stalls", args, rows)


if __name__ == "__main__":
    main()
