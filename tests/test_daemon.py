"""The daemon end to end: `llm-monitor run` as a real process against the simulator.

1 s probes and 5 s windows; the test scrapes /metrics, reads the profile API and the report,
takes an endpoint down through the simulator, stops the daemon with SIGTERM, and kills it with
SIGKILL mid-window to check that a restart loses and double-counts nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_config
from monitor.core.rollup import window_start
from monitor.simulator import Simulator, SimulatorConfig
from monitor.store import open_store

#: A daemon process checked against the simulator's TTFT to 20 ms: alone, after the others.
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-daemon-tests-0123456789"
WINDOW = 5
FAST_TTFT, SLOW_TTFT = 0.100, 0.300


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig.model_validate(
        {
            "port": 0,
            "endpoints": [
                {
                    "id": "fast",
                    "api_key": KEY,
                    "ttft": f"{FAST_TTFT}s",
                    "tokens_per_second": 400,
                },
                {
                    "id": "slow",
                    "flavor": "azure",
                    "api_key": KEY,
                    "deployments": ["nano"],
                    "ttft": f"{SLOW_TTFT}s",
                    "tokens_per_second": 200,
                },
                {
                    "id": "flaky",
                    "api_key": KEY,
                    "ttft": "200ms",
                    "tokens_per_second": 400,
                },
            ],
        }
    )
    async with Simulator(config) as simulator:
        yield simulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _write_config(tmp: Path, sim: Simulator, port: int) -> Path:
    raw: dict[str, Any] = {
        "storage": {"url": f"sqlite:///{tmp / 'monitor.db'}"},
        "server": {"host": "127.0.0.1", "port": port},
        "probe": {"interval": "1s", "timeout": "1s", "jitter": 0, "max_tokens": 20},
        "rollup": {"window": f"{WINDOW}s"},
        "profile": {"uptime_window": "1m"},
        "reports": {"directory": str(tmp / "reports")},
        "logging": {"format": "json"},
        "models": [
            {
                "id": "gpt-4.1-nano",
                "name": "OpenAI: GPT-4.1 Nano",
                "pricing": {"input_per_million": 0.1, "output_per_million": 0.4},
                "context_window": 1047576,
                "max_output_tokens": 32768,
            },
        ],
        "endpoints": [
            {
                "id": "openai",
                "model": "gpt-4.1-nano",
                "provider": "openai",
                "base_url": sim.endpoint_url("fast"),
                "api_key_env": "SIM_KEY",
            },
            {
                "id": "azure-eastus",
                "model": "gpt-4.1-nano",
                "provider": "azure",
                "base_url": sim.endpoint_url("slow"),
                "deployment": "nano",
                "region": "eastus",
                "api_key_env": "SIM_KEY",
            },
            {
                "id": "flaky",
                "model": "gpt-4.1-nano",
                "provider": "openai",
                "base_url": sim.endpoint_url("flaky"),
                "api_key_env": "SIM_KEY",
            },
        ],
    }
    path = tmp / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


async def _start(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "--config",
            str(config),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SIM_KEY": KEY},
            cwd=ROOT,
        )


async def _wait_ready(base: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.returncode is None, log.read_text()
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the daemon did not get ready:\n{log.read_text()}")


async def _profile(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    response = await client.get(f"{base}/api/v1/models/gpt-4.1-nano/profile")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _stop(process: asyncio.subprocess.Process) -> tuple[int, float]:
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), 15)
    return code, time.monotonic() - began


@pytest.mark.asyncio(loop_scope="module")
async def test_the_daemon_measures_publishes_and_stops_cleanly(
    sim: Simulator, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config_path = _write_config(tmp_path, sim, port)
    log = tmp_path / "daemon.log"
    process = await _start(config_path, log)
    try:
        await _wait_ready(base, process, log)
        async with httpx.AsyncClient(timeout=10) as client:
            # Wait for two complete windows with every endpoint up.
            deadline = time.monotonic() + 4 * WINDOW + 15
            profile: dict[str, Any] = {}
            while time.monotonic() < deadline:
                profile = await _profile(client, base)
                live = profile["live"]
                if live["active_endpoints"] == 3 and live["best_ttft_seconds"] is not None:
                    break
                await asyncio.sleep(0.5)
            live = profile["live"]
            assert live["active_endpoints"] == 3 and live["total_endpoints"] == 3, live
            # The best TTFT is the faster endpoint's scripted 100 ms, not the 300 ms one.
            assert live["best_ttft_seconds"] == pytest.approx(FAST_TTFT, abs=0.02)
            assert set(live["available_via"]) == {"OpenAI", "Azure"}
            for name in ("window_start", "window_end", "refreshed_at", "avg_uptime_ratio",
                         "best_output_tokens_per_second"):  # fmt: skip
                assert live[name] is not None, name
            by_id = {e["endpoint"]: e for e in live["endpoints"]}
            assert by_id["azure-eastus"]["ttft_p50_seconds"] == pytest.approx(SLOW_TTFT, abs=0.05)
            assert by_id["azure-eastus"]["region"] == "eastus"
            assert profile["pricing"]["input_per_million"] == pytest.approx(0.1)

            # Take one endpoint down: uptime and the active count fall.
            sim.set_mode("flaky", "server_error")
            deadline = time.monotonic() + 4 * WINDOW + 15
            while time.monotonic() < deadline:
                live = (await _profile(client, base))["live"]
                if live["active_endpoints"] == 2:
                    break
                await asyncio.sleep(0.5)
            assert live["active_endpoints"] == 2
            assert live["avg_uptime_ratio"] < 1.0
            flaky = next(e for e in live["endpoints"] if e["endpoint"] == "flaky")
            assert flaky["status"] == "down" and flaky["failures_by_outcome"]["server_error"] > 0

            # Every metric of README's Metrics section, parsed by prometheus-client's own parser.
            text = (await client.get(f"{base}/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            for name in (
                "llm_monitor_probes", "llm_monitor_probe_success",
                "llm_monitor_last_probe_timestamp_seconds",
                "llm_monitor_time_to_first_token_seconds", "llm_monitor_output_tokens_per_second",
                "llm_monitor_request_duration_seconds", "llm_monitor_output_tokens",
                "llm_monitor_input_tokens", "llm_monitor_probe_cost_usd",
                "llm_monitor_endpoint_info", "llm_monitor_window_uptime_ratio",
                "llm_monitor_window_time_to_first_token_seconds",
                "llm_monitor_window_output_tokens_per_second", "llm_monitor_model_info",
                "llm_monitor_model_price_usd_per_million_tokens",
                "llm_monitor_model_context_window_tokens", "llm_monitor_model_max_output_tokens",
                "llm_monitor_model_uptime_ratio",
                "llm_monitor_model_best_time_to_first_token_seconds",
                "llm_monitor_model_best_output_tokens_per_second", "llm_monitor_model_endpoints",
                "llm_monitor_model_endpoints_active", "llm_monitor_build_info",
                "llm_monitor_event_loop_lag_seconds", "llm_monitor_storage_errors",
                "llm_monitor_scheduler_missed_runs",
            ):  # fmt: skip
                assert name in families and families[name].samples, name
            active = next(iter(families["llm_monitor_model_endpoints_active"].samples))
            assert active.value == 2
            for family in families.values():
                for sample in family.samples:
                    assert "http" not in "".join(sample.labels.values())  # never URLs as labels
                    assert KEY not in "".join(sample.labels.values())

            # The report of the latest window names every endpoint.
            report = (await client.get(f"{base}/api/v1/reports/latest")).text
            for endpoint in ("openai", "azure-eastus", "flaky"):
                assert endpoint in report
        code, took = await _stop(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0, log.read_text()
    assert took < 1.0 + 5.0  # the probe timeout, plus the final writes
    written = sorted((tmp_path / "reports").glob("report-*.md"))
    assert written, "the daemon writes each finished window's report"
    assert KEY not in log.read_text()
    assert all(KEY not in p.read_text() for p in written)


@pytest.mark.asyncio(loop_scope="module")
async def test_kill_9_mid_window_loses_and_double_counts_nothing(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.set_mode("flaky", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config_path = _write_config(tmp_path, sim, port)
    log = tmp_path / "daemon.log"
    process = await _start(config_path, log)
    try:
        await _wait_ready(base, process, log)
        await asyncio.sleep(2 * WINDOW + 2.5)  # into the middle of a window
        killed_at = datetime.now(UTC)
        process.kill()
        await process.wait()
        await asyncio.sleep(1.5)  # the daemon is down for a while: a gap, not a fault
        process = await _start(config_path, log)
        await _wait_ready(base, process, log)
        await asyncio.sleep(2 * WINDOW + 6)
        code, _took = await _stop(process)
        assert code == 0, log.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    config = load_config(config_path, environ={"SIM_KEY": KEY})
    store = open_store(config.schema.storage.url)
    try:
        probes = store.probes(newest_first=False)
        assert len({p.probe_id for p in probes}) == len(probes)
        # It probed before the kill and after the restart.
        assert any(p.started_at < killed_at for p in probes)
        assert any(p.started_at > killed_at for p in probes)
        first = window_start(probes[0].started_at, WINDOW)
        last = window_start(probes[-1].started_at, WINDOW)
        # Every closed window's probes are in its rollup, each counted once; the window the
        # kill cut short was rolled up after the restart. Windows the daemon was down for have
        # no probes and no rollup (how many there are depends on how fast it restarts).
        in_probes = Counter(
            (p.endpoint, window_start(p.started_at, WINDOW))
            for p in probes
            if window_start(p.started_at, WINDOW) < last
        )
        rollups = store.rollups(window_seconds=WINDOW, since=first, until=last)
        in_rollups = {
            (r.endpoint, r.window_start): r.probes for r in rollups if r.window_start < last
        }
        assert in_rollups == dict(in_probes)
        assert len({start for _endpoint, start in in_probes}) >= 4
    finally:
        store.close()
