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


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def simulator_process(endpoints: list[dict[str, Any]], *, seed: int = 1) -> Iterator[str]:
    """Start ``llm-monitor simulate`` with these endpoints; yield its base URL."""
    port = free_port()
    config = {"simulator": {"port": port, "seed": seed, "history": 1_000_000,
                            "endpoints": endpoints}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sim.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "simulate", "--config", str(path)],
            env=os.environ.copy(),
        )
        base = f"http://127.0.0.1:{port}"
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
            process.terminate()
            process.wait(10)


def truth(client: httpx.Client, base: str, request_id: str) -> dict[str, Any]:
    """The simulator's ground truth of one request."""
    response = client.get(f"{base}/_simulator/requests/{request_id}")
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data
