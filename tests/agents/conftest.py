"""Fixtures of the agent tests: a fresh PostgreSQL database per test, and agents as processes
(``llm-monitor run --agent NAME --location LOC``) sharing one config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.simulator import Simulator
from tests.postgres import create_database, drop_database
from tests.reliability.harness import DaemonProcess, free_port, monitor_config, monitored


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped after the test."""
    try:
        url = create_database("llm_monitor_agents_")
    except psycopg.Error as exc:
        reason = f"no PostgreSQL server: {exc}"
        if os.environ.get("LLM_MONITOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (LLM_MONITOR_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(reason)
    try:
        yield url
    finally:
        drop_database(url)


def agent_process(
    tmp_path: Path,
    sim: Simulator,
    endpoints: list[str],
    *,
    name: str,
    location: str,
    storage_url: str,
    window: int = 5,
    heartbeat: str = "1s",
    assignment: str = "all",
    env: dict[str, str] | None = None,
    **sections: Any,
) -> DaemonProcess:
    """One agent of a shared config (1 s probes, ``window``-second rollups) on its own port."""
    port = free_port()
    config = monitor_config(
        tmp_path / f"{name}.yaml",
        [monitored(sim, e) for e in endpoints],
        storage_url=storage_url,
        port=port,
        window=window,
        agent={"heartbeat": heartbeat, "assignment": assignment},
        **sections,
    )
    args = ["run", "--config", str(config), "--agent", name, "--location", location]
    return DaemonProcess(config, tmp_path / f"{name}.log", port=port, args=args, env=env)
