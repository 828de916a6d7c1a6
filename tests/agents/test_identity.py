"""An agent's name and location: from the config, the environment or ``run --agent/--location``;
on every probe (its result, its row, its ``User-Agent``), and in ``probe --format json``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor import __version__
from monitor.config import parse_config
from monitor.core.agent import AgentIdentity, default_agent_name
from monitor.core.errors import ConfigError
from monitor.core.outcomes import Outcome
from monitor.probing.runner import ProbeRunner
from monitor.simulator import Simulator
from monitor.store import open_store
from tests.canned_http import KEY, canned_server, chunk, sse
from tests.reliability.harness import KEY as SIM_KEY
from tests.reliability.harness import (
    DaemonProcess,
    eventually,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)

ROOT = Path(__file__).resolve().parents[2]


def _config(agent: dict[str, Any] | None = None, **environ: str) -> Any:
    raw: dict[str, Any] = {
        "models": [{"id": "m"}],
        "endpoints": [
            {"id": "e", "model": "m", "provider": "openai_compatible",
             "base_url": "http://127.0.0.1:9/v1", "auth": "none"},
        ],
    }  # fmt: skip
    if agent is not None:
        raw["agent"] = agent
    return parse_config(yaml.safe_dump(raw), environ=environ)


# --- where the name and location come from --------------------------------------------------------


def test_without_configuration_an_agent_is_its_host_in_location_local() -> None:
    config = _config()
    assert config.agent == AgentIdentity(default_agent_name(), "local")
    assert config.agent.name == default_agent_name() != ""


def test_the_environment_overrides_the_file_which_overrides_the_defaults() -> None:
    from_file = _config({"name": "vm-1", "location": "virginia"})
    assert from_file.agent == AgentIdentity("vm-1", "virginia")
    from_env = _config(
        {"name": "vm-1", "location": "virginia"},
        LLM_MONITOR_AGENT="fra-2",
        LLM_MONITOR_LOCATION="frankfurt",
    )
    assert from_env.agent == AgentIdentity("fra-2", "frankfurt")
    # One of the two alone overrides only its own.
    assert _config({"location": "virginia"}, LLM_MONITOR_AGENT="x").agent == AgentIdentity(
        "x", "virginia"
    )


@pytest.mark.parametrize(
    ("agent", "environ", "expected"),
    [
        ({"name": "has space"}, {}, "agent.name"),
        ({"location": "a;b"}, {}, "agent.location"),
        ({}, {"LLM_MONITOR_AGENT": "x)y"}, "$LLM_MONITOR_AGENT (agent.name)"),
        ({}, {"LLM_MONITOR_LOCATION": "-lead"}, "$LLM_MONITOR_LOCATION (agent.location)"),
        ({"nmae": "x"}, {}, "agent.nmae"),
    ],
)
def test_a_bad_name_or_location_is_refused_naming_where_it_came_from(
    agent: dict[str, Any], environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(agent, **environ)
    assert any(line.startswith(expected) for line in caught.value.problems), caught.value.problems


def test_run_refuses_a_bad_agent_name_before_it_starts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--agent", "two words"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--agent" in done.stderr and "'two words' is not a valid name" in done.stderr


# --- on every probe ----------------------------------------------------------------------------


async def test_every_request_says_which_agent_and_location_it_comes_from() -> None:
    agent = AgentIdentity("fra-1", "frankfurt")
    reply = sse(chunk("1"), chunk(" 2"), chunk(finish="stop"), "[DONE]")
    async with canned_server(reply) as server:
        spec = {"id": "e", "model": "m", "provider": "openai", "base_url": server.url}
        # The canned answer counts to 2: so does the prompt, for the answer check.
        raw = {"probe": {"prompt": "Count from 1 to 2."}, "models": [{"id": "m"}],
               "endpoints": [{**spec, "api_key_env": "K"}]}  # fmt: skip
        endpoint = parse_config(yaml.safe_dump(raw), environ={"K": KEY}).endpoints[0]
        runner = ProbeRunner(agent=agent)
        try:
            result = await runner.probe(endpoint)
        finally:
            await runner.aclose()
    assert result.outcome is Outcome.SUCCESS, result.error
    assert (result.agent, result.location) == ("fra-1", "frankfurt")
    (request,) = server.requests
    head = request.split(b"\r\n\r\n")[0].decode().lower().split("\r\n")
    user_agents = [line.split(":", 1)[1].strip() for line in head if line.startswith("user-agent:")]
    assert user_agents == [f"llm-monitor/{__version__} (agent fra-1; location frankfurt)".lower()]


def _probe_json(config: Path, **environ: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "probe", "--config", str(config), "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "SIM_KEY": SIM_KEY, **environ},
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    (line,) = done.stdout.splitlines()
    result: dict[str, Any] = json.loads(line)
    return result


async def test_probe_prints_the_agent_and_a_location_can_fail_alone(tmp_path: Path) -> None:
    async with Simulator(sim_config(sim_endpoint("e"))) as sim:
        config = monitor_config(
            tmp_path / "monitor.yaml",
            [monitored(sim, "e")],
            storage_url=f"sqlite:///{tmp_path / 'm.db'}",
            port=free_port(),
        )
        # The simulator fails the requests whose User-Agent names location b, and only those.
        sim.set_mode("e", "server_error", user_agent="location b)")
        from_a, from_b = await asyncio.gather(
            asyncio.to_thread(
                _probe_json, config, LLM_MONITOR_AGENT="pa", LLM_MONITOR_LOCATION="a"
            ),
            asyncio.to_thread(
                _probe_json, config, LLM_MONITOR_AGENT="pb", LLM_MONITOR_LOCATION="b"
            ),
        )
    assert (from_a["agent"], from_a["location"], from_a["outcome"]) == ("pa", "a", "success")
    assert (from_b["agent"], from_b["location"], from_b["outcome"]) == ("pb", "b", "server_error")


async def test_the_daemon_stores_its_agent_and_location_with_every_probe(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    port = free_port()
    async with Simulator(sim_config(sim_endpoint("e"))) as sim:
        config = monitor_config(
            tmp_path / "monitor.yaml",
            [monitored(sim, "e")],
            storage_url=f"sqlite:///{db}",
            port=port,
            agent={"name": "from-file", "location": "file-location"},
        )
        daemon = DaemonProcess(
            config,
            tmp_path / "daemon.log",
            port=port,
            env={"LLM_MONITOR_LOCATION": "from-env"},
            args=["run", "--config", str(config), "--agent", "fra-1"],
        )
        async with daemon:
            await daemon.start()
            await daemon.wait_ready()

            async def probed() -> bool:
                async with httpx.AsyncClient() as client:
                    answer = await client.get(f"{daemon.base}/api/v1/endpoints")
                return answer.json()["endpoints"][0]["last_probe"] is not None

            assert await eventually(probed, 30)
            last = (await daemon.client.get(f"{daemon.base}/api/v1/endpoints")).json()
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()[-2000:]
    # --agent over the file, $LLM_MONITOR_LOCATION over the file.
    assert last["endpoints"][0]["last_probe"]["agent"] == "fra-1"
    assert last["endpoints"][0]["last_probe"]["location"] == "from-env"
    store = open_store(f"sqlite:///{db}")
    try:
        probes = store.probes()
    finally:
        store.close()
    assert probes
    assert {(p.agent, p.location) for p in probes} == {("fra-1", "from-env")}
