"""The probe budget at run time (docs/design.md#probe-spend): when the probes' spend of the
last 24 h in the store (every agent's) reaches ``probe.budget_usd_per_day``, the daemon probes
16 times less often, says so in its log and in ``llm_monitor_budget_exhausted``, and goes back
to its intervals once the spend is under the budget again.

The daemon runs in this process on a clock the test moves (a day passes in a moment); the
probes go to the simulator over loopback."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import structlog
import yaml

from monitor.api.app import create_app
from monitor.config import Config, parse_config
from monitor.metrics import exposition
from monitor.service import daemon as daemon_module
from monitor.service.daemon import Daemon
from monitor.simulator import Simulator, SimulatorConfig
from monitor.store import open_store
from tests.store.factories import make_probe
from tests.web.markup import Element
from tests.web.pages import page

KEY = "sk-budget-tests-0123456789"
#: $10 a day: over this agent's own estimate ($3.57 for one probe a second), so the config
#: loads, but under what the other agents (written into the store below) already spent.
BUDGET = 10.0


def _config(tmp: Path, sim: Simulator) -> Config:
    raw = {
        "storage": {"url": f"sqlite:///{tmp / 'monitor.db'}"},
        "probe": {"interval": "1s", "timeout": "1s", "jitter": 0, "budget_usd_per_day": BUDGET},
        "agent": {"name": "here", "location": "here"},
        "models": [{"id": "gpt-4.1-nano",
                    "pricing": {"input_per_million": 0.1, "output_per_million": 0.4}}],
        "endpoints": [{"id": "e", "model": "gpt-4.1-nano", "provider": "openai",
                       "base_url": sim.endpoint_url("sim"), "api_key_env": "SIM_KEY"}],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"SIM_KEY": KEY})


class MovableClock:
    """The real clock, plus an offset the test sets."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(out),
    )
    yield out
    structlog.reset_defaults()


def _own_probes(config: Config, since: datetime) -> int:
    store = open_store(config.schema.storage.url)
    try:
        return sum(1 for p in store.probes(since=since) if p.agent == "here")
    finally:
        store.close()


def _exhausted(daemon: Daemon) -> str:
    body = exposition(daemon.registry)[0].decode()
    (line,) = [x for x in body.splitlines() if x.startswith("llm_monitor_budget_exhausted ")]
    return line.split()[1]


async def _status_budget(daemon: Daemon) -> Element:
    """The status page's probe budget line, as the daemon's HTTP app serves it."""
    app = create_app(daemon)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as client:
        root = await page(client, "/")
    return root.one(testid="probe-budget")


async def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.1)
    return check()


async def test_spend_over_the_budget_stretches_the_intervals_until_it_is_back_under(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: io.StringIO
) -> None:
    monkeypatch.setattr(daemon_module, "BUDGET_CHECK_SECONDS", 0.5)
    sim_config = SimulatorConfig.model_validate(
        {"port": 0, "endpoints": [{"id": "sim", "api_key": KEY, "ttft": "20ms",
                                   "tokens_per_second": 2000}]}
    )  # fmt: skip
    async with Simulator(sim_config) as sim:
        config = _config(tmp_path, sim)
        # Other agents spent $12 in the last 24 h (over the $10 budget).
        store = open_store(config.schema.storage.url)
        store.upgrade()
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        store.add_probes(
            [make_probe(endpoint="e", agent="there", location="there", cost_usd=3.0,
                        started_at=hour_ago + timedelta(seconds=i)) for i in range(4)]
        )  # fmt: skip
        store.close()
        clock = MovableClock()
        daemon = Daemon(config, clock=clock)
        await asyncio.to_thread(daemon.start)
        try:
            began = datetime.now(UTC)
            await asyncio.sleep(4.5)
            # Stretched 16 times: at most the first run (1 s after start) in 4.5 s, not ~4.
            assert await asyncio.to_thread(daemon.sink.flush, 10)
            assert _own_probes(config, began - timedelta(seconds=5)) <= 1
            assert _exhausted(daemon) == "1.0"
            # The status page says so, with the numbers.
            budget_line = await _status_budget(daemon)
            assert budget_line.get("data-exhausted") == "true"
            assert budget_line.text().startswith(
                "Probe spend in the last 24 h: $12.00 of the $10.00 budget a day: reached, so"
                " every endpoint is probed 16 times less often"
            )
            reached = [json.loads(x) for x in logs.getvalue().splitlines() if "budget" in x]
            assert reached[0]["event"] == "probe budget reached: intervals stretched"
            assert (reached[0]["spent_usd"], reached[0]["stretch"]) == (12.0, 16.0)

            # A day later by the daemon's clock, those probes are out of its 24 h: the
            # intervals come back within a check (0.5 s here) and probing resumes every second.
            clock.offset = timedelta(days=1, hours=1)
            assert await _until(lambda: _exhausted(daemon) == "0.0", 10)
            resumed = datetime.now(UTC)
            await asyncio.sleep(4.5)
            assert await asyncio.to_thread(daemon.sink.flush, 10)
            assert _own_probes(config, resumed) >= 3
            assert "probe spend back under budget: intervals restored" in logs.getvalue()
            budget_line = await _status_budget(daemon)
            assert budget_line.get("data-exhausted") == "false"
            assert "reached" not in budget_line.text()
        finally:
            await asyncio.to_thread(daemon.stop)


def test_without_a_budget_nothing_is_stretched_and_the_gauge_is_zero(tmp_path: Path) -> None:
    raw = {
        "storage": {"url": f"sqlite:///{tmp_path / 'm.db'}"},
        "models": [{"id": "m"}],
        "endpoints": [{"id": "e", "model": "m", "provider": "openai",
                       "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"}],
    }  # fmt: skip
    daemon = Daemon(parse_config(yaml.safe_dump(raw), environ={"K": "k"}))
    assert _exhausted(daemon) == "0.0"
