"""Probe one endpoint in a fresh process and report how much its peak memory grew.

``python -m tests.reliability.probe_memory WARM_URL FLOOD_URL`` (keys from ``$SIM_KEY``) first
probes ``WARM_URL`` so that every module, client and TLS context is loaded, then resets the
kernel's peak-RSS mark (``/proc/self/clear_refs``), probes ``FLOOD_URL`` and prints one JSON
object: the outcome, the error, the RSS before and the peak RSS during the second probe.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
from pathlib import Path

import yaml

from monitor.config import parse_config
from monitor.probing.runner import ProbeRunner

MODEL = "gpt-4.1-nano"


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


async def _main(warm_url: str, flood_url: str) -> dict[str, object]:
    endpoints = [
        {
            "id": name,
            "model": MODEL,
            "provider": "openai",
            "base_url": url,
            "api_key_env": "SIM_KEY",
        }
        for name, url in (("warm", warm_url), ("flood", flood_url))
    ]
    text = yaml.safe_dump(
        {"probe": {"timeout": "20s", "interval": "60s"}, "models": [{"id": MODEL}],
         "endpoints": endpoints}
    )  # fmt: skip
    config = parse_config(text, environ=os.environ)
    warm, flood = config.endpoints
    runner = ProbeRunner()
    try:
        warmed = await runner.probe(warm)
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _kib("VmRSS")
        result = await runner.probe(flood)
        peak = _kib("VmHWM")
    finally:
        await runner.aclose()
    return {
        "warm_outcome": warmed.outcome.value,
        "outcome": result.outcome.value,
        "error": result.error,
        "http_status": result.http_status,
        "rss_before_kib": before,
        "peak_kib": peak,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(sys.argv[1], sys.argv[2]))))
