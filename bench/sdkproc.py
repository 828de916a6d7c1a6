"""The SDK probes as a user runs them: their own script, their own process, their own loop.

``python -m bench.sdkproc`` reads one JSON line on stdin::

    {"endpoints": [["s00000", "http://127.0.0.1:PORT/sim/v1"], ...], "interval": 10.0,
     "timeout": 10.0, "api_key": "...", "cpus": [1], "out": "/tmp/.../sdk.json"}

and probes every endpoint with ``bench.sdkprobe.obvious_probe`` every ``interval`` seconds, the
first runs spread evenly over one interval (as the product's scheduler spreads its own). An id
starting with ``s`` uses one ``AsyncOpenAI`` client per base URL, shared by every probe (a
careful user); ``n`` builds a fresh client per probe with ``async with`` (a naive user). Each
endpoint is one task on a fixed grid: a run that overruns the next grid time skips it (counted
as missed), like the product's ``max_instances=1``.

It prints ``ready`` once imported and set up, probes until stdin reaches end of file (or reads
``stop``), lets the probes in flight finish, then writes to ``out`` the raw stamps of every
probe (``perf_counter_ns``: ``CLOCK_MONOTONIC``, comparable with the bench's and the
simulator's stamps), its scheduling delays and its own loop's lag.

It imports nothing of the product (only ``openai`` and ``bench.sdkprobe``), so its heap, and
its garbage collector's work, is that of a user's script.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from bench.sdkprobe import CURRENT_STAMP, WriteStamp, install_write_stamp, obvious_probe

#: Slack before the first run (the product's scheduler also waits 1 s).
START_SLACK = 1.0
#: How often this process samples its loop's lag (as ``bench.harness`` does on the daemon's).
LAG_TICK = 0.1


@dataclass
class SdkProcessState:
    """What this process saw, written out at the end."""

    probes: list[dict[str, Any]] = field(default_factory=list)
    delays: list[tuple[float, str, float]] = field(default_factory=list)  # (perf, id, seconds)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (perf, seconds)
    missed: list[tuple[float, str, int]] = field(default_factory=list)  # (perf, id, runs)
    shared: dict[str, AsyncOpenAI] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    probing: set[asyncio.Task[None]] = field(default_factory=set)


async def _one_probe(
    state: SdkProcessState, endpoint_id: str, base_url: str, timeout: float, key: str
) -> dict[str, Any]:
    """One obvious SDK probe; its raw stamps (or its error)."""
    stamp = WriteStamp()
    token = CURRENT_STAMP.set(stamp)
    record: dict[str, Any] = {"endpoint": endpoint_id, "kind": endpoint_id[0]}
    try:
        async with asyncio.timeout(timeout):
            if endpoint_id[0] == "s":
                client = state.shared.get(base_url)
                if client is None:
                    client = AsyncOpenAI(api_key=key, base_url=base_url)
                    state.shared[base_url] = client
                measured = await obvious_probe(client, "gpt-4.1-nano")
            else:
                async with AsyncOpenAI(api_key=key, base_url=base_url) as client:
                    measured = await obvious_probe(client, "gpt-4.1-nano")
    except Exception as exc:  # a failed probe is a result, never a crash
        record["error"] = f"{type(exc).__name__}: {exc}"[:200]
    else:
        record.update(
            called_ns=measured.called_ns,
            first_content_ns=measured.first_content_ns,
            last_content_ns=measured.last_content_ns,
            content_chunks=measured.content_chunks,
            output_tokens=measured.output_tokens,
            request_id=measured.request_id,
        )
    finally:
        CURRENT_STAMP.reset(token)
    record["written_ns"] = stamp.written_ns
    return record


async def _endpoint(
    state: SdkProcessState,
    endpoint_id: str,
    base_url: str,
    first: float,
    interval: float,
    timeout: float,
    key: str,
) -> None:
    """Probe one endpoint on the grid ``first + k * interval`` until told to stop."""
    task = asyncio.current_task()
    assert task is not None
    planned = first
    while True:
        await asyncio.sleep(max(planned - time.perf_counter(), 0.0))
        if state.stopping.is_set():
            return
        state.delays.append((time.perf_counter(), endpoint_id, time.perf_counter() - planned))
        state.probing.add(task)
        try:
            state.probes.append(await _one_probe(state, endpoint_id, base_url, timeout, key))
        finally:
            state.probing.discard(task)
        if state.stopping.is_set():
            return  # the others were cancelled in their sleep; this one ends after its probe
        now = time.perf_counter()
        runs = max(math.floor((now - planned) / interval), 0) + 1
        if runs > 1:
            state.missed.append((now, endpoint_id, runs - 1))
        planned += runs * interval


async def _sample_lag(state: SdkProcessState) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(LAG_TICK)
        now = time.perf_counter()
        state.lags.append((now, max(now - before - LAG_TICK, 0.0)))


async def run(spec: dict[str, Any]) -> SdkProcessState:
    """Probe as ``spec`` says until stdin ends; return what was seen."""
    state = SdkProcessState()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_stop() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stop, name="stdin", daemon=True).start()
    endpoints: list[list[str]] = spec["endpoints"]
    interval, timeout = float(spec["interval"]), float(spec["timeout"])
    start = time.perf_counter() + START_SLACK
    lag = asyncio.create_task(_sample_lag(state))
    tasks = [
        asyncio.create_task(
            _endpoint(
                state,
                endpoint_id,
                base_url,
                start + interval * i / len(endpoints),
                interval,
                timeout,
                spec["api_key"],
            )
        )
        for i, (endpoint_id, base_url) in enumerate(endpoints)
    ]
    print("ready", flush=True)
    await stop.wait()
    state.stopping.set()
    for task in tasks:
        if task not in state.probing:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lag.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await lag
    for client in state.shared.values():
        await client.close()
    return state


def main() -> None:
    """Read the spec on stdin, probe, write the stamps."""
    spec = json.loads(sys.stdin.readline())
    if spec.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(spec["cpus"]))
    install_write_stamp()
    state = asyncio.run(run(spec))
    document = {
        "probes": state.probes,
        "delays": state.delays,
        "lags": state.lags,
        "missed": state.missed,
    }
    Path(spec["out"]).write_text(json.dumps(document), encoding="utf-8")


class SdkProcess:
    """The bench's handle on one running ``python -m bench.sdkproc``."""

    def __init__(self, process: subprocess.Popen[str], out: Path) -> None:
        self.process = process
        self.out = out
        self.result: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        """The process id (for CPU accounting)."""
        return self.process.pid

    def stop(self, wait: float = 60.0) -> dict[str, Any]:
        """Stop probing, let the probes in flight finish, return what the process saw."""
        if self.process.poll() is None and self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.write("stop\n")
                self.process.stdin.close()
        self.process.wait(wait)
        if self.process.returncode != 0:
            raise RuntimeError(f"the SDK process failed ({self.process.returncode})")
        self.result = json.loads(self.out.read_text(encoding="utf-8"))
        return self.result


@contextlib.contextmanager
def sdk_process(
    endpoints: list[tuple[str, str]],
    *,
    interval: float,
    timeout: float,
    api_key: str,
    out: Path,
    cpus: set[int] | None = None,
) -> Iterator[SdkProcess]:
    """Start ``python -m bench.sdkproc`` probing ``endpoints`` (id, base URL) and wait until it
    is ready; it is stopped (``SdkProcess.stop``) by the caller or, at the latest, on exit."""
    spec = {
        "endpoints": endpoints,
        "interval": interval,
        "timeout": timeout,
        "api_key": api_key,
        "cpus": sorted(cpus) if cpus else None,
        "out": str(out),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sdkproc"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    handle = SdkProcess(process, out)
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(spec) + "\n")
        process.stdin.flush()
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SDK process did not start")
        yield handle
    finally:
        if process.poll() is None:
            if not handle.result:
                with contextlib.suppress(Exception):
                    handle.stop(wait=30)
            if process.poll() is None:
                process.kill()
                process.wait()


if __name__ == "__main__":
    main()
