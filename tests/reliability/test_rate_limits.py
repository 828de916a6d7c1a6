"""A 429 storm: the daemon honours ``retry-after`` (and Azure's ``retry-after-ms``) by skipping
its scheduled runs until the wait is over, as the simulator's own request log shows, and counts
each skipped slot in ``llm_monitor_probes_skipped_total``. A skipped slot is not a probe: it is
neither stored nor rolled up, so it counts neither for nor against uptime."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from monitor.config import load_config
from monitor.core.outcomes import Outcome
from monitor.simulator import Simulator
from monitor.store import open_store

from .harness import KEY, MODEL, DaemonProcess, free_port, monitor_config, monitored, sim_config
from .harness import sim_endpoint as endpoint

RUN_SECONDS = 10
WAITS = {"storm": 3.0, "storm-azure": 2.5}  # what each endpoint's 429 asks for


async def test_a_429_storm_is_waited_out_and_every_slot_is_accounted_for(tmp_path: Path) -> None:
    config = sim_config(
        endpoint("storm", mode="rate_limited", retry_after="3s"),
        endpoint("storm-azure", flavor="azure", deployments=["nano"], mode="rate_limited",
                 retry_after="2500ms"),
        endpoint("calm"),
    )  # fmt: skip
    async with Simulator(config) as sim:
        port = free_port()
        azure = {"id": "storm-azure", "model": MODEL, "provider": "azure", "deployment": "nano",
                 "base_url": sim.endpoint_url("storm-azure"), "api_key_env": "SIM_KEY"}  # fmt: skip
        path = monitor_config(
            tmp_path / "monitor.yaml",
            [monitored(sim, "storm"), azure, monitored(sim, "calm")],
            storage_url=f"sqlite:///{tmp_path / 'monitor.db'}",
            port=port,
        )
        async with DaemonProcess(path, tmp_path / "daemon.log", port=port) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            await asyncio.sleep(RUN_SECONDS)
            scrape = await daemon.scrape()
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()
        requests = {name: sim.recent(1000, name) for name in ("storm", "storm-azure", "calm")}

    # Seen from the simulator: after each 429 no request arrives before its retry-after ran out.
    for name, wait in WAITS.items():
        seen = sorted(requests[name], key=lambda truth: truth.received_ns)
        assert len(seen) >= 2, name
        assert all(t.status == 429 for t in seen)
        for answered, following in itertools.pairwise(seen):
            assert answered.headers_sent_ns is not None
            gap = (following.received_ns - answered.headers_sent_ns) / 1e9
            assert gap >= wait, f"{name}: a probe {gap:.2f}s after a 429 asking for {wait}s"
    assert all(t.status == 200 for t in requests["calm"])

    # Seen from the metrics: each slot is a probe or a skipped slot, and the endpoint that was
    # never limited had as many slots.
    calm = scrape.total("llm_monitor_probes_total", endpoint="calm")
    assert calm >= RUN_SECONDS - 1
    for name in WAITS:
        probes = scrape.total("llm_monitor_probes_total", endpoint=name)
        limited = scrape.total("llm_monitor_probes_total", endpoint=name, outcome="rate_limited")
        skipped = scrape.total("llm_monitor_probes_skipped_total", endpoint=name,
                               reason="retry_after")  # fmt: skip
        assert probes == limited and skipped >= probes - 1, (name, probes, skipped)
        assert abs(probes + skipped - calm) <= 2, (name, probes, skipped, calm)

    # Seen from the store: one row per request, and the rollups count probes, never slots.
    settings = load_config(path, environ={"SIM_KEY": KEY})
    store = open_store(settings.schema.storage.url)
    try:
        for name in (*WAITS, "calm"):
            rows = store.probes(endpoint=name, limit=10_000)
            assert len(rows) == len(requests[name])
            rolled = store.rollups(window_seconds=5, endpoint=name)
            assert sum(r.probes for r in rolled) == len(rows)
            if name != "calm":
                assert {r.outcome for r in rows} == {Outcome.RATE_LIMITED}
                assert all(r.uptime_ratio in (0.0, None) for r in rolled)
    finally:
        store.close()
