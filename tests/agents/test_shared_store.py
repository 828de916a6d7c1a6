"""Three agents in three locations share one PostgreSQL store: each probe is filed under its
agent and location, one agent at a time rolls windows up, and when that one is killed
(``kill -9``) another takes over; no window is lost and none is counted twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.core.rollup import window_start
from monitor.simulator import Simulator
from monitor.store import open_store
from tests.reliability.harness import (
    MODEL,
    DaemonProcess,
    eventually,
    sim_config,
    sim_endpoint,
)

from .conftest import agent_process

WINDOW = 5
ENDPOINTS = ["ok", "fails-in-b", "down"]
LOCATIONS = ["a", "b", "c"]


async def _agents_json(agent: DaemonProcess) -> dict[str, Any]:
    answer = await agent.get("/api/v1/agents")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_three_agents_one_store_one_roller_and_a_takeover_after_kill_9(
    tmp_path: Path, pg_url: str
) -> None:
    sim = Simulator(sim_config(*(sim_endpoint(e) for e in ENDPOINTS)))
    async with sim:
        sim.set_mode("fails-in-b", "server_error", user_agent="location b)")
        sim.set_mode("down", "server_error")
        agents = {
            name: agent_process(
                tmp_path, sim, ENDPOINTS, name=f"agent-{name}", location=name, storage_url=pg_url
            )
            for name in LOCATIONS
        }
        async with contextlib.AsyncExitStack() as stack:
            for agent in agents.values():
                await stack.enter_async_context(agent)
                await agent.start()
            for agent in agents.values():
                await agent.wait_ready()

            # Every agent sees the three, alive, and the same one leader.
            async def all_three() -> bool:
                body = await _agents_json(agents["a"])
                return [a["alive"] for a in body["agents"]] == [True] * 3

            assert await eventually(all_three, 20)
            views = [await _agents_json(agent) for agent in agents.values()]
            leaders = {view["rollup_leader"] for view in views}
            assert len(leaders) == 1 and None not in leaders, views
            (leader,) = leaders
            listed = views[0]["agents"]
            assert [(a["agent"], a["location"], a["endpoints"]) for a in listed] == [
                (f"agent-{loc}", loc, len(ENDPOINTS)) for loc in LOCATIONS
            ]
            assert [a["rollup_leader"] for a in listed].count(True) == 1
            assert len({a["config_hash"] for a in listed}) == 1

            # Two more windows with everyone, then the leader dies mid-window.
            await asyncio.sleep(2 * WINDOW)
            # Metrics: each agent's probe series under its own location; the window and model
            # families from the leader alone, so summing over agents counts nothing twice.
            leading_agent = agents[leader.removeprefix("agent-")]

            async def leader_exports_a_window() -> bool:
                answer = await leading_agent.get("/metrics")
                return "llm_monitor_window_uptime_ratio{" in answer.text

            assert await eventually(leader_exports_a_window, 20)
            scraped = {}
            for loc, agent in agents.items():
                answer = await agent.get("/metrics")
                assert answer.status_code == 200
                scraped[loc] = answer.text
            for loc, text in scraped.items():
                assert f'endpoint="ok",location="{loc}"' in text, loc
                assert all(f'location="{o}"' not in text for o in LOCATIONS if o != loc), loc
                leading = f"agent-{loc}" == leader
                assert (f'llm_monitor_rollup_leader{{agent="agent-{loc}",location="{loc}"}} '
                        f'{"1.0" if leading else "0.0"}') in text, loc  # fmt: skip
                assert ("llm_monitor_window_uptime_ratio{" in text) is leading, loc
                assert ("llm_monitor_model_uptime_ratio{" in text) is leading, loc
                assert "llm_monitor_clock_offset_seconds{" in text, loc
            killed_at = datetime.now(UTC)
            victim = agents[leader.removeprefix("agent-")]
            await victim.kill()

            async def taken_over() -> bool:
                survivor = next(a for a in agents.values() if a is not victim)
                body = await _agents_json(survivor)
                return body["rollup_leader"] not in (None, leader)

            assert await eventually(taken_over, 15)
            new_leader = (await _agents_json(agents["a" if victim is not agents["a"] else "b"]))[
                "rollup_leader"
            ]
            # Two more windows and their settle time after the takeover.
            await asyncio.sleep(2 * WINDOW + 4)
            # The others first, the leader last: its final rollup counts their last probes
            # (which they marked for it in the store).
            survivors = sorted(
                (a for a in agents.values() if a is not victim),
                key=lambda a: new_leader in a.log.name,
            )
            answer = await survivors[-1].get(f"/api/v1/models/{MODEL}/profile")
            assert answer.status_code == 200, answer.text
            live = answer.json()["live"]
            stopped_at = datetime.now(UTC)
            for agent in survivors:
                code, _ = await agent.stop()
                assert code == 0, agent.log_text()[-3000:]
            logs = {agent.log.name: agent.log_text() for agent in agents.values()}

    store = open_store(pg_url)
    try:
        probes = store.probes(limit=10_000_000, newest_first=False)
        rollups = store.rollups(window_seconds=WINDOW)
        located = store.location_rollups(window_seconds=WINDOW)
    finally:
        store.close()

    # Each probe under its own agent and location; each agent probed every endpoint.
    by_agent = Counter((p.agent, p.location, p.endpoint) for p in probes)
    for loc in LOCATIONS:
        for endpoint in ENDPOINTS:
            assert by_agent[(f"agent-{loc}", loc, endpoint)] >= 5, (loc, endpoint)
    assert {p.outcome.value for p in probes if p.endpoint == "ok"} == {"success"}
    failed_b = {p.location for p in probes if p.endpoint == "fails-in-b" and not p.ok}
    assert failed_b == {"b"}

    # Exactly one rollup per endpoint and window, with exactly the counts of its raw probes,
    # through the takeover: none missing, none counted twice, whoever rolled it up.
    keys = [(r.endpoint, r.window_start) for r in rollups]
    assert len(keys) == len(set(keys))
    raw = Counter((p.endpoint, window_start(p.started_at, WINDOW)) for p in probes)
    by_key = {(r.endpoint, r.window_start): r for r in rollups}
    assert set(by_key) == set(raw), set(raw) ^ set(by_key)
    for key, count in raw.items():
        assert by_key[key].probes == count, (key, by_key[key].probes, count)
    after_kill = [
        w for (_, w) in raw if w >= window_start(killed_at, WINDOW) + timedelta(seconds=WINDOW)
    ]
    assert after_kill, "no window after the takeover"
    assert max(after_kill) >= window_start(stopped_at, WINDOW) - timedelta(seconds=WINDOW)
    # Beside each, one rollup per location, with that location's probes.
    raw_located = Counter(
        (p.endpoint, window_start(p.started_at, WINDOW), p.location) for p in probes
    )
    by_location = {(r.endpoint, r.window_start, r.location): r for r in located}
    assert len(by_location) == len(located) and set(by_location) == set(raw_located)
    assert all(by_location[k].probes == n for k, n in raw_located.items())

    # Uptime across locations is the quorum's (majority): an endpoint that fails for location
    # b alone is up, while b's own rollups say down; one that fails everywhere is down.
    seen_by_all = [r for r in rollups if r.locations == 3]
    assert seen_by_all, "no window that all three locations probed"
    for r in seen_by_all:
        assert r.slots_up is not None and r.slots_down is not None
        if r.endpoint == "ok":
            assert (r.uptime_ratio, r.slots_down) == (1.0, 0)
        elif r.endpoint == "down":
            assert (r.uptime_ratio, r.slots_up) == (0.0, 0)
        else:  # fails-in-b: up by majority (a slot that only b saw would be down: at most one,
            # at an edge of the run or the takeover; a window there may have a single voted
            # slot, when the agents' first or last probes of it fall in one slot)
            assert r.slots_down <= 1 and r.slots_up >= 1 and r.uptime_ratio is not None, r
            own = {loc: by_location[(r.endpoint, r.window_start, loc)] for loc in LOCATIONS}
            assert own["b"].uptime_ratio == 0.0
            assert own["a"].uptime_ratio == own["c"].uptime_ratio == 1.0
    assert any(
        r.uptime_ratio == 1.0 and (r.slots_up or 0) >= 2
        for r in seen_by_all
        if r.endpoint == "fails-in-b"
    )
    assert all(r.uptime_ratio == 0.0 for r in rollups if r.endpoint == "down")

    # The survivor said it took the lease over.
    assert any("rollup lease taken" in text for name, text in logs.items() if new_leader in name)

    # The profile shows both: each endpoint's uptime across locations and each location's own,
    # and where its best numbers were measured.
    assert live["locations"] == LOCATIONS
    lines = {line["endpoint"]: line for line in live["endpoints"]}
    seen = {e: {loc["location"]: loc for loc in lines[e]["locations"]} for e in ENDPOINTS}
    assert all(set(seen[e]) == set(LOCATIONS) for e in ENDPOINTS), own
    assert seen["fails-in-b"]["b"]["uptime_ratio"] == 0.0
    assert seen["fails-in-b"]["a"]["uptime_ratio"] == seen["fails-in-b"]["c"]["uptime_ratio"] == 1.0
    assert lines["fails-in-b"]["uptime_ratio"] > 0.5  # by quorum, not b's 0 % nor a probe mean
    assert lines["ok"]["uptime_ratio"] == 1.0 and lines["down"]["uptime_ratio"] == 0.0
    best = live["best_ttft_from"]
    assert best["endpoint"] in ("ok", "fails-in-b") and best["location"] in LOCATIONS
    measured = seen[best["endpoint"]][best["location"]]["ttft_p50_seconds"]
    assert live["best_ttft_seconds"] == measured
    assert live["best_output_tokens_per_second_from"]["location"] in LOCATIONS
