"""The dashboards, recording rules and alerts on a real Prometheus scraping the real daemon.

The simulator runs in the test's event loop; ``llm-monitor run`` runs as a subprocess with 1 s
probes, a 1 s timeout and 5 s rollup windows against four simulated endpoints (providers openai
and azure, models gpt-4.1-nano and gpt-4o-mini); Debian's ``prometheus`` scrapes it every second
as ``job="llm-monitor"`` and evaluates the project's rule files every second. The tests require:

- every query of ``dashboards.generate.all_queries()`` returns a finite value, with
  ``$__rate_interval`` at 15 s: what Grafana gives for a 1 s scrape interval,
  max(4 x scrape interval, step + scrape interval), at a step of up to 14 s;
- every recording rule of ``config/prometheus/rules`` records series, and every rule evaluates
  without an error;
- taking one endpoint down in the simulator fires ``LLMEndpointDown`` for it and no alert for
  the healthy endpoints;
- ``promtool check metrics`` accepts the daemon's ``/metrics`` without a remark (two remarks
  about monitor/metrics/ are known: see KNOWN_DAEMON_REMARKS).

Every query is an instant query: each has a value at the end of the wait, the window and model
gauges once the first 5 s window is complete, so none needs a range query.

The alerting rules are loaded from a copy of ``llm-monitor.alerts.yml`` in which only the
``for:`` durations are shortened to 5 s, by a YAML load and dump (the test checks that nothing
else differs): minutes of ``for:`` would outlast any test. The expressions are the real ones;
``LLMEndpointDown`` (at least 3 failed probes in 15 minutes and a failed last probe) is reached
in seconds with 1 s probes.

Without the ``prometheus`` binary the tests skip, unless ``LLM_MONITOR_REQUIRE_PROMTOOL=1`` (CI)
makes that a failure.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from dashboards import generate
from monitor.simulator import Simulator, SimulatorConfig

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "config" / "prometheus" / "rules"
RECORDING_RULES = RULES_DIR / "llm-monitor.rules.yml"
ALERTING_RULES = RULES_DIR / "llm-monitor.alerts.yml"
REQUIRE_ENV = "LLM_MONITOR_REQUIRE_PROMTOOL"
KEY = "sk-prometheus-e2e-0123456789"
JOB = "llm-monitor"
#: Seconds between scrapes and between rule evaluations.
SCRAPE_INTERVAL = 1
#: $__rate_interval for a 1 s scrape interval (see the module docstring).
RATE_INTERVAL = "15s"
#: What every ``for:`` of the alerting rules becomes in the test's copy.
SHORT_FOR = "5s"
WINDOW = 5
#: Grafana variables that all_queries() can substitute; an interval variable such as $__range
#: or $__interval would become ``.*`` there, so a dashboard using one must extend it first.
SUBSTITUTED_VARIABLES = {
    "__rate_interval",
    "datasource",
    "location",
    "model",
    "provider",
    "endpoint",
    "instance",
}
#: How long the tests wait for data, and for the alert, before they give up.
DATA_DEADLINE = 60.0
ALERT_DEADLINE = 60.0
#: The endpoint the alert test takes down (simulator id, monitor id) and the ones that stay up.
DOWN_SIM, DOWN = "flaky", "flaky-mini"
HEALTHY = ("openai-nano", "azure-eastus-nano", "openai-mini")


@dataclass(frozen=True, slots=True)
class Stack:
    """The running simulator, daemon and Prometheus."""

    sim: Simulator
    daemon_url: str
    prometheus_url: str
    #: Unix time at which Prometheus was ready: the start of the test's data.
    started_at: float
    logs: tuple[Path, ...]

    def log_tail(self, lines: int = 20) -> str:
        """The end of every process log, to explain a failure."""
        parts = [""]
        for log in self.logs:
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            parts.append(f"== {log.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install prometheus)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} and {REQUIRE_ENV}=1")
        pytest.skip(reason)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _short_for_copy(source: Path, target: Path) -> Path:
    """Write ``source`` with every ``for:`` set to SHORT_FOR and nothing else changed."""
    data = _load(source)
    for group in data["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = SHORT_FOR
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def _without_for(data: Any) -> Any:
    return [
        [{k: v for k, v in rule.items() if k != "for"} for rule in group["rules"]]
        for group in data["groups"]
    ]


def _recorded_names() -> list[str]:
    names = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in _load(path)["groups"]:
            names += [rule["record"] for rule in group["rules"] if "record" in rule]
    return names


# --- the processes -----------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[Simulator]:
    endpoint: dict[str, Any] = {"api_key": KEY, "tokens_per_second": 400}
    config = SimulatorConfig.model_validate(
        {
            "port": 0,
            "endpoints": [
                {**endpoint, "id": "nano", "ttft": "100ms"},
                {
                    **endpoint,
                    "id": "azure-nano",
                    "flavor": "azure",
                    "deployments": ["nano"],
                    "ttft": "200ms",
                },
                {**endpoint, "id": "mini", "model": "gpt-4o-mini-2024-07-18", "ttft": "150ms"},
                {**endpoint, "id": DOWN_SIM, "model": "gpt-4o-mini-2024-07-18", "ttft": "150ms"},
            ],
        }
    )
    async with Simulator(config) as simulator:
        yield simulator


def _daemon_config(tmp: Path, sim: Simulator, port: int) -> Path:
    models = [
        {
            "id": "gpt-4.1-nano",
            "name": "OpenAI: GPT-4.1 Nano",
            "pricing": {"input_per_million": 0.1, "output_per_million": 0.4},
            "context_window": 1047576,
            "max_output_tokens": 32768,
        },
        {
            "id": "gpt-4o-mini",
            "name": "OpenAI: GPT-4o mini",
            "pricing": {"input_per_million": 0.15, "output_per_million": 0.6},
            "context_window": 128000,
            "max_output_tokens": 16384,
        },
    ]
    common = {"provider": "openai", "api_key_env": "SIM_KEY"}
    endpoints = [
        {
            **common,
            "id": "openai-nano",
            "model": "gpt-4.1-nano",
            "base_url": sim.endpoint_url("nano"),
            # A probe kind, so that the TTFT-by-prompt-size panel has data.
            "kinds": [{"name": "long", "input_tokens": 500, "interval": "2s"}],
        },
        {
            **common,
            "id": "azure-eastus-nano",
            "model": "gpt-4.1-nano",
            "provider": "azure",
            "base_url": sim.endpoint_url("azure-nano"),
            "deployment": "nano",
            "region": "eastus",
            # A gateway that closes every connection: its probes connect anew each time, so the
            # connect-time panel has data even if the daemon keeps other connections alive (with
            # 1 s probes a kept-alive connection would never be timed again).
            "headers": {"Connection": "close"},
        },
        {
            **common,
            "id": "openai-mini",
            "model": "gpt-4o-mini",
            "base_url": sim.endpoint_url("mini"),
        },
        {**common, "id": DOWN, "model": "gpt-4o-mini", "base_url": sim.endpoint_url(DOWN_SIM)},
    ]
    raw = {
        "storage": {"url": f"sqlite:///{tmp / 'monitor.db'}"},
        "server": {"host": "127.0.0.1", "port": port},
        "probe": {"interval": "1s", "timeout": "1s", "jitter": 0, "max_tokens": 20},
        "rollup": {"window": f"{WINDOW}s"},
        "profile": {"uptime_window": "1m"},
        "reports": {"directory": str(tmp / "reports")},
        "logging": {"format": "json"},
        "models": models,
        "endpoints": endpoints,
    }
    path = tmp / "monitor.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _prometheus_config(tmp: Path, daemon_port: int) -> Path:
    alerts = _short_for_copy(ALERTING_RULES, tmp / ALERTING_RULES.name)
    raw = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL}s",
            "scrape_timeout": f"{SCRAPE_INTERVAL}s",
            "evaluation_interval": f"{SCRAPE_INTERVAL}s",
        },
        "rule_files": [str(RECORDING_RULES), str(alerts)],
        "scrape_configs": [
            {"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{daemon_port}"]}]}
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


async def _spawn(
    log: Path, *args: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            *args, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT
        )


async def _wait_http_ok(
    url: str, process: asyncio.subprocess.Process, log: Path, what: str
) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    text = log.read_text(encoding="utf-8", errors="replace")
    raise AssertionError(f"{what} did not get ready at {url}:\n{text}")


async def _stop(process: asyncio.subprocess.Process, *, grace: float) -> None:
    """SIGTERM, then SIGKILL if the process outlives ``grace`` seconds."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        process.kill()
        await process.wait()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    prometheus = _binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus-e2e")
    daemon_port, prometheus_port = _free_port(), _free_port()
    daemon_log, prometheus_log = tmp / "daemon.log", tmp / "prometheus.log"
    daemon_url = f"http://127.0.0.1:{daemon_port}"
    prometheus_url = f"http://127.0.0.1:{prometheus_port}"
    config = _daemon_config(tmp, sim, daemon_port)
    daemon = await _spawn(
        daemon_log,
        sys.executable, "-m", "monitor", "run", "--config", str(config),
        env={**os.environ, "SIM_KEY": KEY},
    )  # fmt: skip
    server = None
    try:
        await _wait_http_ok(f"{daemon_url}/readyz", daemon, daemon_log, "the daemon")
        server = await _spawn(
            prometheus_log,
            prometheus,
            f"--config.file={_prometheus_config(tmp, daemon_port)}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        )
        await _wait_http_ok(f"{prometheus_url}/-/ready", server, prometheus_log, "Prometheus")
        yield Stack(
            sim=sim,
            daemon_url=daemon_url,
            prometheus_url=prometheus_url,
            started_at=time.time(),
            logs=(daemon_log, prometheus_log),
        )
    finally:
        await _stop(daemon, grace=15)
        if server is not None:
            await _stop(server, grace=10)


# --- asking Prometheus -------------------------------------------------------------------------


async def _api(client: httpx.AsyncClient, stack: Stack, path: str, **params: str) -> Any:
    response = await client.get(f"{stack.prometheus_url}/api/v1/{path}", params=params)
    payload = response.json()
    assert payload["status"] == "success", f"{path} {params}: {payload.get('error')}"
    return payload["data"]


def _finite(value: str) -> bool:
    return math.isfinite(float(value))


def _has_data(data: dict[str, Any]) -> bool:
    """Whether a query result holds a finite value (NaN is what Grafana shows as no data)."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return _finite(result[1])
    if kind == "vector":
        return any(_finite(series["value"][1]) for series in result)
    if kind == "matrix":
        return any(_finite(v) for series in result for _, v in series["values"])
    return bool(result)


async def _until_all_have_data(
    stack: Stack,
    items: dict[str, str],
    ask: Callable[[httpx.AsyncClient, str], Awaitable[dict[str, Any]]],
) -> dict[str, str]:
    """Query every item until all have data or DATA_DEADLINE passes; return the ones without."""
    pending = dict(items)
    deadline = stack.started_at + DATA_DEADLINE
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            for key, expr in list(pending.items()):
                if _has_data(await ask(client, expr)):
                    del pending[key]
            if not pending or time.time() > deadline:
                return pending
            await asyncio.sleep(SCRAPE_INTERVAL)


# --- the tests ---------------------------------------------------------------------------------


def test_dashboards_use_only_the_grafana_variables_that_all_queries_substitutes() -> None:
    used = set()
    for build in generate.DASHBOARDS.values():
        board = build()
        texts = [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
        for panel in generate.panels_of(board):
            texts += [query["expr"] for query in panel.get("targets", [])]
        for text in texts:
            used |= {a or b for a, b in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", text)}
    assert used <= SUBSTITUTED_VARIABLES, (
        f"all_queries() turns {sorted(used - SUBSTITUTED_VARIABLES)} into '.*': teach "
        "dashboards/generate.py:substitute() their values first"
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    queries = generate.all_queries(RATE_INTERVAL)
    assert len(queries) >= 40
    assert not any("$" in expr for _, _, expr in queries)
    # Keyed by position: a stat and a graph of one dashboard may share title and query.
    items = {
        f"#{n} {board}: {title}: {expr}": expr for n, (board, title, expr) in enumerate(queries)
    }

    async def instant(client: httpx.AsyncClient, expr: str) -> dict[str, Any]:
        data: dict[str, Any] = await _api(client, stack, "query", query=expr)
        return data

    empty = await _until_all_have_data(stack, items, instant)
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty) + stack.log_tail()


@pytest.mark.asyncio(loop_scope="module")
async def test_every_recording_rule_records_series(stack: Stack) -> None:
    names = _recorded_names()
    assert len(names) >= 30
    items = {name: name for name in names}

    async def recorded(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
        data: dict[str, Any] = await _api(client, stack, "query", query=name)
        for series in data["result"]:
            assert set(series["metric"]) == {"__name__", "endpoint", "provider", "model"}, series
        return data

    empty = await _until_all_have_data(stack, items, recorded)
    assert not empty, "recording rules without series:\n" + "\n".join(empty) + stack.log_tail()
    async with httpx.AsyncClient(timeout=10) as client:
        groups = (await _api(client, stack, "rules"))["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len([rule for rule in rules if rule["type"] == "recording"]) == len(names)
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken


def test_the_alert_copy_differs_from_the_real_rules_only_in_for(tmp_path: Path) -> None:
    copy = _short_for_copy(ALERTING_RULES, tmp_path / "alerts.yml")
    real, short = _load(ALERTING_RULES), _load(copy)
    assert _without_for(short) == _without_for(real)
    durations = {rule.get("for") for group in short["groups"] for rule in group["rules"]}
    assert durations == {SHORT_FOR}


@pytest.mark.asyncio(loop_scope="module")
async def test_promtool_accepts_the_daemons_metrics(stack: Stack) -> None:
    promtool = _binary("promtool")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{stack.daemon_url}/metrics")
    assert response.status_code == 200
    check = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(check.communicate(response.content), 30)
    remarks = output.decode(errors="replace").strip()
    assert not remarks, remarks
    assert check.returncode == 0


async def _alerts(client: httpx.AsyncClient, stack: Stack) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = (await _api(client, stack, "alerts"))["alerts"]
    return alerts


@pytest.mark.asyncio(loop_scope="module")
async def test_an_endpoint_taken_down_fires_llm_endpoint_down_for_it_alone(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        before = [a for a in await _alerts(client, stack) if a["state"] == "firing"]
        assert not [a for a in before if a["labels"]["alertname"].startswith("LLMEndpoint")], before
        stack.sim.set_mode(DOWN_SIM, "server_error")
        took_down = time.monotonic()
        try:
            firing: dict[str, Any] | None = None
            alerts: list[dict[str, Any]] = []
            while firing is None and time.monotonic() < took_down + ALERT_DEADLINE:
                await asyncio.sleep(SCRAPE_INTERVAL)
                alerts = await _alerts(client, stack)
                firing = next(
                    (
                        a
                        for a in alerts
                        if a["state"] == "firing"
                        and a["labels"]["alertname"] == "LLMEndpointDown"
                        and a["labels"].get("endpoint") == DOWN
                    ),
                    None,
                )
            took = time.monotonic() - took_down
        finally:
            stack.sim.set_mode(DOWN_SIM, None)
    assert firing is not None, f"no firing LLMEndpointDown after {took:.0f} s: {alerts}"
    labels = firing["labels"]
    assert (labels["provider"], labels["model"], labels["severity"]) == (
        "openai",
        "gpt-4o-mini",
        "page",
    )
    assert float(firing["value"]) >= 3
    assert DOWN in firing["annotations"]["summary"]
    # The healthy endpoints are not alerted on, neither by this alert nor by any other (not even
    # pending), and nothing fires but alerts about the endpoint that is down.
    noisy = [a for a in alerts if a["labels"].get("endpoint") in HEALTHY]
    assert not noisy, noisy
    others = [a for a in alerts if a["state"] == "firing" and a["labels"].get("endpoint") != DOWN]
    assert not others, others
    down = [a for a in alerts if a["labels"]["alertname"] == "LLMEndpointDown"]
    assert [a["labels"]["endpoint"] for a in down] == [DOWN]
    print(f"LLMEndpointDown fired for {DOWN} {took:.1f} s after it went down")
