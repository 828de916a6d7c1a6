"""A long run: thousands of probes at one-second intervals against simulated endpoints where 5%
of the requests fail in assorted ways, scraped like Prometheus would. Memory stays flat (the
daemon's RSS, sampled each second: the second half's maximum within a small margin of the first
half's) and every probe is accounted for after a clean stop: stored rows = the final
``llm_monitor_probes_total`` summed over outcomes = the sum of the rollups' probe counts over the
covered windows = the probe log lines = the requests the simulator answered.

Bounded in time: ``$LLM_MONITOR_SOAK_SECONDS`` (default 60) of probing; set it higher for a
longer soak, e.g. ``LLM_MONITOR_SOAK_SECONDS=1800``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

from monitor.simulator import Simulator
from monitor.store import open_store

from .harness import (
    DaemonProcess,
    Scrape,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)

SECONDS = float(os.environ.get("LLM_MONITOR_SOAK_SECONDS", "60"))
ENDPOINTS = 40
WINDOW = 5
#: 5% of requests misbehave, spread over the faults a provider really shows.
FAULTS = {
    "server_error": 0.01,
    "rate_limited": 0.005,
    "truncated": 0.005,
    "reset": 0.005,
    "mid_stream_error": 0.005,
    "malformed_json": 0.005,
    "hang_mid_stream": 0.005,
    "not_sse": 0.005,
    "empty": 0.005,
}
#: How much the second half's peak RSS may exceed the first half's.
RSS_MARGIN = 0.05


async def test_a_long_run_keeps_memory_flat_and_accounts_for_every_probe(tmp_path: Path) -> None:
    names = [f"e{i:02d}" for i in range(ENDPOINTS)]
    config_sim = sim_config(
        *(sim_endpoint(name, faults=FAULTS, retry_after="1s") for name in names),
        history=1_000_000,
    )
    async with Simulator(config_sim) as sim:
        port = free_port()
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        config = monitor_config(
            tmp_path / "monitor.yaml",
            [monitored(sim, name) for name in names],
            storage_url=url,
            port=port,
            window=WINDOW,
            probe={"jitter": "200ms"},
        )
        final = tmp_path / "final.prom"
        daemon = DaemonProcess(
            config,
            tmp_path / "daemon.log",
            port=port,
            module="tests.reliability.soak_daemon",
            args=[str(config), str(final)],
        )
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()
            rss: list[int] = []
            began = time.monotonic()
            tick = 0
            while time.monotonic() - began < SECONDS:
                tick += 1
                rss.append(daemon.rss_bytes())
                # What a Prometheus server and a dashboard would ask for, meanwhile.
                await daemon.scrape()
                if tick % 5 == 0:
                    for path in ("/api/v1/endpoints", "/api/v1/models/gpt-4.1-nano/profile"):
                        assert (await daemon.get(path)).status_code == 200
                await asyncio.sleep(max(began + tick - time.monotonic(), 0))
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()[-3000:]
        requests = sim.recent(1_000_000)

    # Memory: flat once running.
    half = len(rss) // 2
    first, second = max(rss[:half]), max(rss[half:])
    quarters = [max(rss[i * len(rss) // 4 : (i + 1) * len(rss) // 4]) / 2**20 for i in range(4)]
    print("RSS peak by quarter (MiB):", " ".join(f"{q:.1f}" for q in quarters))
    assert second <= first * (1 + RSS_MARGIN), (
        f"RSS grew from {first / 2**20:.1f} MiB to {second / 2**20:.1f} MiB"
    )

    # Accounting: every probe once, everywhere.
    counted = Scrape(final.read_text())
    total = counted.total("llm_monitor_probes_total")
    by_outcome: Counter[str] = Counter()
    for sample in counted.samples:
        if sample.name == "llm_monitor_probes_total" and sample.value:
            by_outcome[sample.labels["outcome"]] += int(sample.value)
    store = open_store(url)
    try:
        stored = store.probes(limit=10_000_000)
        rolled = sum(r.probes for r in store.rollups(window_seconds=WINDOW))
    finally:
        store.close()
    logged = daemon.probe_events()
    assert total >= SECONDS * ENDPOINTS * 0.8, "far fewer probes than slots"
    assert len(stored) == total == rolled == len(logged) == len(requests)
    assert Counter(p.outcome.value for p in stored) == by_outcome
    assert len({p.probe_id for p in stored}) == len(stored)
    # The faults happened, and were told apart.
    assert by_outcome["success"] >= 0.9 * total
    assert len(set(by_outcome) - {"success"}) >= 6, by_outcome
    assert counted.total("llm_monitor_probes_skipped_total") > 0  # retry-after honoured
    assert counted.total("llm_monitor_storage_errors_total") == 0
