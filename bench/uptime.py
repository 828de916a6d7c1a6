"""Uptime under injected faults: llm-monitor vs Prometheus' blackbox exporter, vs the truth.

    python -m bench uptime [--quick] [--probes 1000] [--json PATH]

Needs Debian's ``prometheus-blackbox-exporter`` (``apt-get install
prometheus-blackbox-exporter``); the bench starts its own instance on a free port. Two
blackbox modules send the same POST (body, ``Authorization``, ``Content-Type``) as the
monitor's probe: ``http_post`` accepts any 2xx (the usual configuration), ``http_post_done``
also requires ``data: [DONE]`` in the body (the most a regexp can check; it cannot parse SSE).

1. **Fault by fault**: every behaviour of the simulator forced in turn, a few probes each,
   and what each prober concluded (up or down).
2. **Uptime**: ``--probes`` probes per prober (concurrency 50) against endpoints with 5 %
   server errors, 2 % hangs before the headers, 2 % hangs mid-stream, 3 % mid-stream error
   events and 3 % truncated streams (cleanly terminated, no ``[DONE]``). Each prober has its
   own simulated endpoint with the same fault rates; the truth is the share of its requests the
   simulator answered normally. The monitor's uptime is the product's (``compute_rollup``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.common import Column, parser, print_table, write_json
from bench.harness import KEY, config_text, load, sim_url
from bench.simproc import free_port, simulator_process
from monitor.core.outcomes import Outcome
from monitor.core.rollup import EndpointIdentity, ProbeRow, compute_rollup
from monitor.probing.runner import ProbeRunner

TIMEOUT = 3.0
FAULTS = {
    "server_error": 0.05,
    "hang_before_headers": 0.02,
    "hang_mid_stream": 0.02,
    "mid_stream_error": 0.03,
    "truncated": 0.03,
}
PROBERS = ("monitor", "blackbox", "blackbox_done")
MATRIX = (
    "normal", "server_error", "rate_limited", "hang_before_headers", "hang_after_headers",
    "hang_mid_stream", "mid_stream_error", "truncated", "truncated_clean", "reset", "not_sse",
    "malformed_json", "empty", "content_filter", "keepalive_comments",
)  # fmt: skip
BODY = {
    "model": "gpt-4.1-nano",
    "messages": [{"role": "user", "content": "Count from 1 to 40, separated by spaces."}],
    "max_completion_tokens": 64,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def _sim_endpoints() -> list[dict[str, Any]]:
    common = {"api_key": KEY, "ttft": "100ms", "tokens_per_second": 200}
    out = []
    for prober in PROBERS:
        out.append({"id": f"{prober}-faults", **common, "faults": FAULTS,
                    "truncate_style": "clean"})  # fmt: skip
        out.append({"id": f"{prober}-forced", **common})
        out.append({"id": f"{prober}-forced-clean", **common, "truncate_style": "clean"})
    return out


@contextlib.contextmanager
def blackbox() -> Iterator[str]:
    """Run the blackbox exporter with the two modules; yield its base URL."""
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        raise SystemExit("prometheus-blackbox-exporter is not installed (apt-get install it)")
    http = {
        "method": "POST",
        "headers": {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        "body": json.dumps(BODY),
        "preferred_ip_protocol": "ip4",
    }
    modules = {
        "http_post": {"prober": "http", "timeout": f"{TIMEOUT:g}s", "http": http},
        "http_post_done": {
            "prober": "http",
            "timeout": f"{TIMEOUT:g}s",
            "http": {**http, "fail_if_body_not_matches_regexp": [r"data: \[DONE\]"]},
        },
    }
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blackbox.yml"
        path.write_text(yaml.safe_dump({"modules": modules}), encoding="utf-8")
        process = subprocess.Popen(
            [binary, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base}/-/healthy", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the blackbox exporter did not start")
                time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            process.wait(10)


class Probers:
    """One probe by each prober, against a given simulated endpoint."""

    def __init__(self, sim: str, exporter: str) -> None:
        self.sim = sim
        self.exporter = exporter
        self.runner = ProbeRunner()
        self.client = httpx.AsyncClient(timeout=TIMEOUT + 5)
        self.endpoints = {
            e.id: e
            for e in load(
                config_text(
                    [(e["id"], sim_url(sim, e["id"])) for e in _sim_endpoints()],
                    interval=60,
                    timeout=TIMEOUT,
                    storage_url="sqlite://",
                    port=9464,
                )
            ).endpoints
        }

    async def probe(self, prober: str, endpoint_id: str) -> Outcome:
        """Probe once; the monitor's outcome, or SUCCESS / SERVER_ERROR for blackbox up / down."""
        if prober == "monitor":
            return (await self.runner.probe(self.endpoints[endpoint_id])).outcome
        module = "http_post" if prober == "blackbox" else "http_post_done"
        target = f"{self.sim}/{endpoint_id}/v1/chat/completions"
        response = await self.client.get(
            f"{self.exporter}/probe", params={"module": module, "target": target}
        )
        up = any(
            line.startswith("probe_success ") and line.split()[1] == "1"
            for line in response.text.splitlines()
        )
        return Outcome.SUCCESS if up else Outcome.SERVER_ERROR

    async def aclose(self) -> None:
        """Close connections."""
        await self.runner.aclose()
        await self.client.aclose()


async def _set_mode(client: httpx.AsyncClient, sim: str, endpoint: str, mode: str | None) -> None:
    response = await client.post(f"{sim}/_simulator/endpoints/{endpoint}/mode", json={"mode": mode})
    response.raise_for_status()


async def matrix(probers: Probers, repeats: int) -> list[dict[str, Any]]:
    """What each prober says of each forced behaviour."""
    rows = []
    async with httpx.AsyncClient(timeout=10) as admin:
        for behaviour in MATRIX:
            row: dict[str, Any] = {"behaviour": behaviour}
            for prober in PROBERS:
                clean = behaviour == "truncated_clean"
                endpoint = f"{prober}-forced" + ("-clean" if clean else "")
                await _set_mode(admin, probers.sim, endpoint, "truncated" if clean else behaviour)
                outcomes = await asyncio.gather(
                    *(probers.probe(prober, endpoint) for _ in range(repeats))
                )
                await _set_mode(admin, probers.sim, endpoint, None)
                ups = sum(o is Outcome.SUCCESS for o in outcomes)
                verdict = "up" if ups == repeats else "down" if ups == 0 else f"{ups}/{repeats} up"
                if prober == "monitor":
                    kinds = sorted({o.value for o in outcomes})
                    verdict += f" ({', '.join(kinds)})"
                row[prober] = verdict
            rows.append(row)
    return rows


async def uptime(probers: Probers, count: int, concurrency: int) -> list[dict[str, Any]]:
    """Uptime each prober reports, and the truth of the requests it made."""
    rows = []
    limit = asyncio.Semaphore(concurrency)

    async def one(prober: str) -> Outcome:
        async with limit:
            return await probers.probe(prober, f"{prober}-faults")

    async with httpx.AsyncClient(timeout=30) as admin:
        for prober in PROBERS:
            began = time.perf_counter()
            outcomes = await asyncio.gather(*(one(prober) for _ in range(count)))
            took = time.perf_counter() - began
            await asyncio.sleep(TIMEOUT + 0.5)  # hung requests end on the simulator's side too
            response = await admin.get(
                f"{probers.sim}/_simulator/requests",
                params={"endpoint": f"{prober}-faults", "limit": 10_000},
            )
            requests = response.json()["requests"]
            behaviours: dict[str, int] = {}
            for request in requests:
                behaviours[request["behaviour"]] = behaviours.get(request["behaviour"], 0) + 1
            true_up = behaviours.get("normal", 0) / len(requests) if requests else None
            rows_ = [ProbeRow(prober, o, None, None, None, None, None, None) for o in outcomes]
            rollup = compute_rollup(
                EndpointIdentity(prober, "gpt-4.1-nano", "openai", None),
                rows_,
                datetime.now(UTC),
                1800,
            )
            reported = rollup.uptime_ratio
            rows.append(
                {
                    "prober": prober,
                    "probes": count,
                    "requests_seen": len(requests),
                    "true_uptime": true_up,
                    "reported_uptime": reported,
                    "error_points": None
                    if reported is None or true_up is None
                    else 100 * (reported - true_up),
                    "faults_injected": {k: v for k, v in behaviours.items() if k != "normal"},
                    "outcomes": {o.value: outcomes.count(o) for o in set(outcomes)},
                    "seconds": took,
                }
            )
    return rows


async def _run(count: int, repeats: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with simulator_process(_sim_endpoints()) as sim, blackbox() as exporter:
        probers = Probers(sim, exporter)
        try:
            forced = await matrix(probers, repeats)
            measured = await uptime(probers, count, 50)
        finally:
            await probers.aclose()
    return forced, measured


def main(argv: list[str] | None = None) -> None:
    """Print the tables (and write the JSON)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--probes", type=int, default=None, help="default 1000 (quick: 300)")
    args = args_parser.parse_args(argv)
    count = args.probes or (300 if args.quick else 1000)
    forced, measured = asyncio.run(_run(count, 3 if args.quick else 5))
    print_table(
        "What each prober concludes of each forced simulator behaviour",
        [
            Column("behaviour", "behaviour"),
            Column("monitor", "llm-monitor (outcome)"),
            Column("blackbox", "blackbox: 2xx"),
            Column("blackbox_done", "blackbox: 2xx + [DONE] regexp"),
        ],
        forced,
    )
    print_table(
        f"Uptime under injected faults ({count} probes per prober; "
        + ", ".join(f"{k} {v:.0%}" for k, v in FAULTS.items())
        + ")",
        [
            Column("prober", "prober"),
            Column("requests_seen", "requests"),
            Column("true_uptime", "true uptime", ".3f"),
            Column("reported_uptime", "reported uptime", ".3f"),
            Column("error_points", "error (points)", "+.1f"),
        ],
        measured,
    )
    write_json(args.json, "uptime", args, {"forced": forced, "uptime": measured})


if __name__ == "__main__":
    main()
