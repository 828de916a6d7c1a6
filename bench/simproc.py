"""Run the simulator in a separate process, so it never shares a CPU or a loop with the probes."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

_PIDS: dict[str, int] = {}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def simulator_process(
    endpoints: list[dict[str, Any]], *, seed: int = 1, cpus: set[int] | None = None
) -> Iterator[str]:
    """Start ``llm-monitor simulate`` with these endpoints (pinned to ``cpus`` if given);
    yield its base URL."""
    port = free_port()
    config = {"simulator": {"port": port, "seed": seed, "history": 1_000_000,
                            "endpoints": endpoints}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "simulate", "--config", str(path)],
            env=os.environ.copy(),
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        base = f"http://127.0.0.1:{port}"
        _PIDS[base] = process.pid
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{base}/_simulator/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulator did not start")
                time.sleep(0.05)
            yield base
        finally:
            _PIDS.pop(base, None)
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def simulator_processes(
    count: int, endpoints: list[dict[str, Any]], *, cpus: set[int] | None = None
) -> Iterator[list[str]]:
    """``count`` simulator processes serving the same endpoints; yield their base URLs."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(simulator_process(endpoints, seed=1 + i, cpus=cpus))
            for i in range(count)
        ]


def pid_of(base: str) -> int | None:
    """The pid of the simulator process serving ``base`` (for CPU accounting)."""
    return _PIDS.get(base)


def truth(client: httpx.Client, base: str, request_id: str) -> dict[str, Any]:
    """The simulator's ground truth of one request."""
    response = client.get(f"{base}/_simulator/requests/{request_id}")
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def truths(bases_by_id: dict[str, str], workers: int = 4) -> dict[str, dict[str, Any]]:
    """Ground truth of many requests at once: request id -> its simulator's base URL."""
    from concurrent.futures import ThreadPoolExecutor

    items = list(bases_by_id.items())
    found: dict[str, dict[str, Any]] = {}

    def fetch(part: list[tuple[str, str]]) -> None:
        with httpx.Client(timeout=30) as client:
            for request_id, base in part:
                response = client.get(f"{base}/_simulator/requests/{request_id}")
                if response.status_code == 200:
                    found[request_id] = response.json()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fetch, [items[i::workers] for i in range(workers)]))
    return found
