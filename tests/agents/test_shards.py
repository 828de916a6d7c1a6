"""``agent.assignment: shard``: the live agents of one location divide the endpoints among
themselves; when one dies the others take its endpoints over within a heartbeat of it being
counted gone, and after that each endpoint is probed by exactly one agent again."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.core.agent import my_share, shard_owner
from monitor.simulator import Simulator
from monitor.store import open_store
from tests.reliability.harness import eventually, sim_config, sim_endpoint

from .conftest import agent_process

ENDPOINTS = [f"e{i:02d}" for i in range(30)]
HEARTBEAT = 1.0


def test_every_endpoint_has_one_owner_and_a_leaving_member_moves_only_its_own() -> None:
    members = ["a1", "a2", "a3"]
    owners = {e: shard_owner(e, members) for e in ENDPOINTS}
    assert set(owners.values()) == set(members)  # 30 endpoints reach all three
    shares = [my_share(ENDPOINTS, members, m) for m in members]
    assert sorted(e for share in shares for e in share) == ENDPOINTS  # a partition
    assert all(len(share) >= 4 for share in shares), [len(s) for s in shares]
    after = {e: shard_owner(e, ["a1", "a3"]) for e in ENDPOINTS}
    assert all(after[e] == owners[e] for e in ENDPOINTS if owners[e] != "a2")
    assert shard_owner("e00", []) is None
    # Alone, an agent probes everything, whatever it last heard of the others.
    assert my_share(ENDPOINTS, [], "a9") == set(ENDPOINTS)


def _who_probed(url: str, since: datetime, until: datetime) -> dict[str, set[str]]:
    store = open_store(url)
    try:
        probes = store.probes(since=since, until=until, limit=1_000_000)
    finally:
        store.close()
    agents: dict[str, set[str]] = defaultdict(set)
    for probe in probes:
        agents[probe.endpoint].add(str(probe.agent))
    return agents


async def test_three_agents_share_thirty_endpoints_and_take_over_a_dead_ones(
    tmp_path: Path, pg_url: str
) -> None:
    async with Simulator(sim_config(*(sim_endpoint(e) for e in ENDPOINTS))) as sim:
        agents = [
            agent_process(
                tmp_path,
                sim,
                ENDPOINTS,
                name=f"s{i}",
                location="here",
                storage_url=pg_url,
                window=60,
                heartbeat=f"{HEARTBEAT:g}s",
                assignment="shard",
            )
            for i in range(3)
        ]
        async with contextlib.AsyncExitStack() as stack:
            for agent in agents:
                await stack.enter_async_context(agent)
                await agent.start()
            for agent in agents:
                await agent.wait_ready()

            async def settled() -> bool:
                body = (await agents[0].get("/api/v1/agents")).json()
                counts = [a["endpoints"] for a in body["agents"] if a["alive"]]
                return len(counts) == 3 and sum(counts) == len(ENDPOINTS)

            assert await eventually(settled, 20)
            await asyncio.sleep(2 * HEARTBEAT)  # every agent has applied the same members
            since = datetime.now(UTC)
            await asyncio.sleep(4)  # four intervals of 1 s
            until = datetime.now(UTC)
            before = _who_probed(pg_url, since, until)
            assert sorted(before) == ENDPOINTS
            assert all(len(who) == 1 for who in before.values()), before
            owners = {e: next(iter(who)) for e, who in before.items()}
            assert set(owners.values()) == {"s0", "s1", "s2"}
            assert owners == {e: shard_owner(e, ["s0", "s1", "s2"]) for e in ENDPOINTS}

            # kill -9 one: gone after 3 silent heartbeats, its endpoints taken over within one
            # more; then settled again, each endpoint by exactly one survivor.
            victim = agents[1]
            await victim.kill()
            killed = datetime.now(UTC)
            await asyncio.sleep(3 * HEARTBEAT + HEARTBEAT + 2)
            since = datetime.now(UTC)
            await asyncio.sleep(4)
            until = datetime.now(UTC)
            after = _who_probed(pg_url, since, until)
            assert sorted(after) == ENDPOINTS
            assert all(len(who) == 1 and "s1" not in who for who in after.values()), after
            moved = [e for e in ENDPOINTS if owners[e] == "s1"]
            assert moved and all(after[e] <= {"s0", "s2"} for e in moved)
            kept = [e for e in ENDPOINTS if owners[e] != "s1"]
            assert all(after[e] == {owners[e]} for e in kept)  # nobody else's moved
            # The takeover happened within one heartbeat of s1 being counted gone.
            gaps = _who_probed(pg_url, killed, since)
            assert all(gaps.get(e) for e in moved)
            for agent in (agents[0], agents[2]):
                code, _ = await agent.stop()
                assert code == 0, agent.log_text()[-2000:]
            assert any('"event": "shard changed"' in a.log_text() for a in (agents[0], agents[2]))
    assert killed + timedelta(seconds=1) < since
