"""An SQLite file serves one agent: a second ``llm-monitor run`` on the same file stops at once,
says which agent holds it, and writes nothing; once the first is gone (even by ``kill -9``),
the file is free again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.simulator import Simulator
from tests.reliability.harness import (
    DaemonProcess,
    eventually,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)


def _agents_in(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=5) as connection:
        rows = connection.execute("SELECT agent, count(*) FROM probes GROUP BY agent").fetchall()
    return {str(agent): int(count) for agent, count in rows}


async def test_a_second_agent_on_one_sqlite_file_stops_at_once_and_writes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "monitor.db"
    async with Simulator(sim_config(sim_endpoint("e"))) as sim:

        def agent(name: str) -> DaemonProcess:
            port = free_port()
            config = monitor_config(
                tmp_path / f"{name}.yaml",
                [monitored(sim, "e")],
                storage_url=f"sqlite:///{db}",
                port=port,
            )
            args = ["run", "--config", str(config), "--agent", name, "--location", "here"]
            return DaemonProcess(config, tmp_path / f"{name}.log", port=port, args=args)

        first = agent("first")
        async with first:
            await first.start()
            await first.wait_ready()
            assert await eventually(lambda: _has_probes(db), 30)

            second = agent("second")
            async with second:
                await second.start()
                code = await second.wait(60)
            told = second.log_text()
            assert code == 2, told
            assert "another agent ('first' in location 'here', pid " in told, told
            assert f"already runs on the SQLite store {db}" in told, told
            assert "PostgreSQL" in told
            # It wrote nothing, and the first agent never noticed.
            assert set(_agents_in(db)) == {"first"}
            assert (await first.get("/readyz")).status_code == 200
            await first.kill()  # kill -9: the kernel drops the lock with the process

        third = agent("third")
        async with third:
            await third.start()
            await third.wait_ready()

            async def probed() -> bool:
                return "third" in _agents_in(db)

            assert await eventually(probed, 30)
            code, _ = await third.stop()
            assert code == 0, third.log_text()[-2000:]
    assert set(_agents_in(db)) == {"first", "third"}


async def _has_probes(db: Path) -> bool:
    return db.exists() and bool(_agents_in(db))
