"""Agents on one PostgreSQL store check their clocks against the store's and their configs
against each other's: an agent whose clock is off does not roll up, and one that runs another
config is named in the others' logs."""

from __future__ import annotations

import os
from pathlib import Path

from monitor.simulator import Simulator
from tests.reliability.harness import eventually, sim_config, sim_endpoint, unavailable
from tests.reliability.test_clock import LIBFAKETIME

from .conftest import agent_process

SKEW_SECONDS = 30


async def test_a_wrong_clock_keeps_an_agent_from_rolling_up_and_another_config_is_named(
    tmp_path: Path, pg_url: str
) -> None:
    if not LIBFAKETIME.exists():
        unavailable(f"libfaketime is not installed ({LIBFAKETIME})", "LLM_MONITOR_REQUIRE_FAKETIME")
    spec = tmp_path / "faketime.txt"
    spec.write_text(f"+{SKEW_SECONDS}s\n")
    skewed_env = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(spec),
        "DONT_FAKE_MONOTONIC": "1",
    }
    async with Simulator(sim_config(sim_endpoint("e"), sim_endpoint("extra"))) as sim:
        skewed = agent_process(
            tmp_path, sim, ["e"], name="skewed", location="a", storage_url=pg_url
        )
        skewed._env.update(skewed_env)
        good = agent_process(tmp_path, sim, ["e"], name="good", location="b", storage_url=pg_url)
        other = agent_process(
            tmp_path, sim, ["e", "extra"], name="other", location="c", storage_url=pg_url
        )
        async with skewed, good, other:
            # Alone, the skewed agent probes but does not take the lease.
            await skewed.start()
            await skewed.wait_ready()

            async def said_off() -> bool:
                return "clock off: not rolling up" in skewed.log_text()

            assert await eventually(said_off, 15), skewed.log_text()[-2000:]
            alone = (await skewed.get("/api/v1/agents")).json()
            assert alone["rollup_leader"] is None
            (me,) = alone["agents"]
            assert abs(me["clock_offset_seconds"] - SKEW_SECONDS) < 3, me

            # An agent with a right clock takes it.
            await good.start()
            await good.wait_ready()

            async def good_leads() -> bool:
                leader = (await skewed.get("/api/v1/agents")).json()["rollup_leader"]
                return bool(leader == "good")

            assert await eventually(good_leads, 15)

            # A third with another config: the others name it in their logs, and it them.
            await other.start()
            await other.wait_ready()

            async def named() -> bool:
                return (
                    all('"other": "other"' in agent.log_text() for agent in (skewed, good))
                    and '"other": "good"' in other.log_text()
                )

            assert await eventually(named, 15), good.log_text()[-2000:]
            listed = (await good.get("/api/v1/agents")).json()["agents"]
            hashes = {a["agent"]: a["config_hash"] for a in listed}
            assert hashes["skewed"] == hashes["good"] != hashes["other"]
            for agent in (other, skewed, good):
                code, _ = await agent.stop()
                assert code == 0, agent.log_text()[-2000:]
    assert os.environ.get("LD_PRELOAD") is None  # only the skewed agent ran under libfaketime
