"""What the reliability tests share: simulator and config builders, and the daemon as a process.

The simulator runs in the test's own event loop (so a test must never block it: anything slow
goes through ``asyncio.to_thread``); the daemon runs as ``python -m monitor run`` in a process of
its own, logging JSON lines to a file, and is reached over loopback HTTP like in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.simulator import Simulator, SimulatorConfig

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4.1-nano"
#: The key the simulator expects and the daemon sends (from $SIM_KEY), unless a test says so.
KEY = "sk-reliability-0123456789abcdef"
#: A simulator endpoint that answers fast; the probes' max_tokens of 16 keeps it short (the
#: count to 40, cut: finish "length", which the answer check leaves alone).
FAST: dict[str, Any] = {"ttft": "30ms", "tokens_per_second": 1000}


def unavailable(reason: str, required_by: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it when ``$required_by`` is 1 (as CI sets it)."""
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{reason} ({required_by}=1)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def sim_config(*endpoints: dict[str, Any], **top: Any) -> SimulatorConfig:
    """A simulator on a free port with these endpoints (each a dict of ``EndpointConfig``)."""
    return SimulatorConfig.model_validate({"port": 0, "seed": 11, **top, "endpoints": endpoints})


def sim_endpoint(endpoint_id: str, **overrides: Any) -> dict[str, Any]:
    """A fast simulated OpenAI endpoint that wants ``KEY``."""
    return {"id": endpoint_id, "api_key": KEY, **FAST, **overrides}


def monitored(
    sim: Simulator, endpoint_id: str, sim_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A monitor ``endpoints:`` entry for a simulated OpenAI endpoint, keyed from ``$SIM_KEY``."""
    return {
        "id": endpoint_id,
        "model": MODEL,
        "provider": "openai",
        "base_url": sim.endpoint_url(sim_id or endpoint_id),
        "api_key_env": "SIM_KEY",
        **extra,
    }


def monitor_config(
    path: Path,
    endpoints: Iterable[Mapping[str, Any]],
    *,
    storage_url: str,
    port: int,
    window: int = 5,
    **sections: Any,
) -> Path:
    """Write a daemon config: 1 s probes, ``window``-second rollups, JSON logs; ``sections``
    replace or extend the top-level sections (``probe`` is merged key by key)."""
    raw: dict[str, Any] = {
        "storage": {"url": storage_url},
        "server": {"host": "127.0.0.1", "port": port},
        "probe": {"interval": "1s", "timeout": "1s", "jitter": 0, "max_tokens": 16},
        "rollup": {"window": f"{window}s"},
        "profile": {"uptime_window": "1m"},
        "logging": {"format": "json"},
        "models": [{"id": MODEL, "pricing": {"input_per_million": 0.1, "output_per_million": 0.4}}],
        "endpoints": list(endpoints),
    }
    probe = sections.pop("probe", {})
    raw["probe"].update(probe)
    raw.update(sections)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.2
) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class Sample:
    """One sample of a scrape."""

    name: str
    labels: dict[str, str]
    value: float


class Scrape:
    """A parsed ``/metrics`` answer."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [
            Sample(s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str, **labels: str) -> bool:
        """Whether a sample of ``name`` with these labels exists."""
        return any(
            s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
            for s in self.samples
        )


class DaemonProcess:
    """``llm-monitor run`` (or another ``python -m`` entry point) as a child process."""

    def __init__(
        self,
        config: Path,
        log: Path,
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        module: str = "monitor",
        args: Iterable[str] | None = None,
    ) -> None:
        self.config = config
        self.log = log
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self._env = {**os.environ, "SIM_KEY": KEY, **(env or {})}
        self._argv = [sys.executable, "-m", module, *(args or ["run", "--config", str(config)])]
        self.process: asyncio.subprocess.Process | None = None
        self.client = httpx.AsyncClient(timeout=10)

    async def __aenter__(self) -> DaemonProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill()
        await self.client.aclose()

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, once it exited."""
        assert self.process is not None
        return self.process.returncode

    async def start(self) -> None:
        """Start the process (its output is appended to ``log``)."""
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=self._env,
                cwd=ROOT,
            )

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``/readyz`` answers 200."""

        async def ready() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"the daemon exited:\n{self.log_text()}")
            try:
                return (await self.client.get(f"{self.base}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        if not await eventually(ready, timeout):
            raise AssertionError(f"the daemon did not get ready:\n{self.log_text()[-5000:]}")

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET a path of the daemon's HTTP server."""
        return await self.client.get(f"{self.base}{path}", **kwargs)

    async def scrape(self) -> Scrape:
        """The parsed ``/metrics``."""
        response = await self.get("/metrics")
        assert response.status_code == 200, response.text
        return Scrape(response.text)

    async def ready_problems(self) -> tuple[int, list[str]]:
        """``/readyz``'s status and problems."""
        response = await self.get("/readyz")
        problems: list[str] = response.json()["problems"]
        return response.status_code, problems

    async def signal(self, sig: signal.Signals) -> None:
        """Send a signal."""
        assert self.process is not None
        self.process.send_signal(sig)

    async def stop(self, timeout: float = 20.0) -> tuple[int, float]:
        """SIGTERM; return the exit code and how long the exit took."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        return code, time.monotonic() - began

    async def wait(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit by itself; its exit code."""
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> None:
        """SIGKILL (kill -9) if still running, and reap it."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def rss_bytes(self) -> int:
        """The resident set size now, from /proc."""
        return _status_kib(self.pid, "VmRSS") * 1024

    def log_text(self) -> str:
        """Everything the process wrote."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines (other lines are skipped)."""
        found = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def probe_events(self) -> list[dict[str, Any]]:
        """The one log line of each probe."""
        return [e for e in self.events() if e.get("event") == "probe"]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")
