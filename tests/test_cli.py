"""The command line as a user runs it: real processes, real HTTP against the simulator."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.cli.demo import DemoFeed
from monitor.core.outcomes import Outcome
from monitor.core.profile import ModelLive
from monitor.simulator import Simulator, SimulatorConfig
from monitor.store import open_store
from tests.store.factories import make_probe

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-sim-cli-tests-0123456789abcdef"
CANARY = "sk-canary-7f3a9c1e5b2d4f6a8c0e"
#: The demo's profile card once a window is complete: at least one of its two endpoints active.
FILLED_CARD = re.compile(r"profile .* [12]/2 active endpoints")


async def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> tuple[int, str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "LLM_MONITOR_CONFIG"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig.model_validate(
        {
            "port": 0,
            "endpoints": [
                {"id": "good", "api_key": KEY, "ttft": "50ms", "tokens_per_second": 500},
                {"id": "down", "api_key": KEY, "mode": "server_error"},
            ],
        }
    )
    async with Simulator(config) as simulator:
        yield simulator


def _config(tmp_path: Path, sim: Simulator, *endpoint_ids: str, key_env: str = "SIM_KEY") -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "probe": {"timeout": "5s"},
                "models": [{"id": "gpt-4.1-nano"}],
                "endpoints": [
                    {
                        "id": eid,
                        "model": "gpt-4.1-nano",
                        "provider": "openai",
                        "base_url": sim.endpoint_url(eid),
                        "api_key_env": key_env,
                    }
                    for eid in endpoint_ids
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.serial  # its TTFT is checked against the simulator's truth to 5 ms
async def test_probe_json_lines_have_the_documented_fields(tmp_path: Path, sim: Simulator) -> None:
    path = _config(tmp_path, sim, "good")
    code, out, _err = await _run("probe", "--config", str(path), "--format", "json",
                                 env={"SIM_KEY": KEY})  # fmt: skip
    assert code == 0
    (line,) = out.splitlines()
    data = json.loads(line)
    for name in (
        "endpoint", "provider", "model", "outcome", "ok", "http_status", "started_at",
        "ttft_seconds", "total_seconds", "output_tokens", "input_tokens", "tokens_estimated",
        "output_tokens_per_second", "content_chunks", "connect_seconds", "connection_reused",
        "error", "duration_seconds",
    ):  # fmt: skip
        assert name in data, name
    assert data["outcome"] == "success" and data["ok"] is True
    assert data["duration_seconds"] >= data["total_seconds"] > 0
    assert data["started_at"].endswith("Z")
    truth = sim.truth(data["provider_request_id"])
    assert truth is not None and truth.ttft_seconds is not None
    assert abs(data["ttft_seconds"] - truth.ttft_seconds) < 0.005


async def test_probe_exits_1_when_any_endpoint_fails(tmp_path: Path, sim: Simulator) -> None:
    path = _config(tmp_path, sim, "good", "down")
    code, out, _err = await _run("probe", "--config", str(path), env={"SIM_KEY": KEY})
    assert code == 1
    assert "server_error" in out and "success" in out


async def test_probe_selects_endpoints_and_rejects_unknown_ones(
    tmp_path: Path, sim: Simulator
) -> None:
    path = _config(tmp_path, sim, "good", "down")
    code, out, _err = await _run("probe", "--config", str(path), "--endpoint", "good",
                                 "--format", "json", env={"SIM_KEY": KEY})  # fmt: skip
    assert code == 0 and [json.loads(x)["endpoint"] for x in out.splitlines()] == ["good"]
    code, _out, err = await _run("probe", "--config", str(path), "--endpoint", "nope",
                                 env={"SIM_KEY": KEY})  # fmt: skip
    assert code == 2 and "unknown endpoint(s) nope" in err


async def test_probe_kinds_probes_each_kind_too(tmp_path: Path, sim: Simulator) -> None:
    path = _config(tmp_path, sim, "good")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["probe"]["kinds"] = [{"name": "long", "input_tokens": 3000}]
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code, out, _err = await _run("probe", "--config", str(path), "--kinds", "--format", "json",
                                 env={"SIM_KEY": KEY})  # fmt: skip
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert [(x["endpoint"], x["kind"]) for x in lines] == [("good", "short"), ("good", "long")]
    assert 2_850 <= lines[1]["input_tokens"] <= 3_150 and lines[0]["input_tokens"] < 40
    code, out, _err = await _run("probe", "--config", str(path), "--kinds",
                                 env={"SIM_KEY": KEY})  # fmt: skip
    assert code == 0 and "good#long" in out
    code, out, _err = await _run("probe", "--config", str(path), "--format", "json",
                                 env={"SIM_KEY": KEY})  # fmt: skip
    assert [json.loads(x)["kind"] for x in out.splitlines()] == ["short"]


@pytest.mark.parametrize("output_format", ["json", "table"])
async def test_a_canary_key_never_appears_in_any_output(
    tmp_path: Path, sim: Simulator, output_format: str
) -> None:
    # The simulator rejects the canary and, like OpenAI, echoes a masked form of it back.
    path = _config(tmp_path, sim, "good", key_env="CANARY_KEY")
    code, out, err = await _run("probe", "--config", str(path), "--format", output_format,
                                env={"CANARY_KEY": CANARY})  # fmt: skip
    assert code == 1
    assert "auth_error" in out
    for text in (out, err):
        assert CANARY not in text
        assert "canary" not in text.lower()
        assert CANARY[-8:] not in text


@pytest.mark.parametrize("columns", ["80", "160"])
async def test_probe_table_shows_each_error_whole_at_any_width(
    tmp_path: Path, sim: Simulator, columns: str
) -> None:
    # A wrong key: the simulator answers like OpenAI, with a long invalid_api_key message.
    path = _config(tmp_path, sim, "good", "down")
    env = {"SIM_KEY": "sk-wrong-0123456789abcdef"}
    code, out, _err = await _run("probe", "--config", str(path), "--format", "json", env=env)
    assert code == 1
    errors = {json.loads(line)["error"] for line in out.splitlines()}
    assert all(len(error) > 40 for error in errors), errors
    code, out, _err = await _run("probe", "--config", str(path), env={**env, "COLUMNS": columns})
    assert code == 1
    assert max(len(line) for line in out.splitlines()) <= int(columns)
    # Whether in a wrapped column or under the table, every word of each error is shown, in order.
    words = " ".join(re.sub(r"[│┃]", " ", out).split())
    for error in errors:
        if columns == "80":
            assert " ".join(error.split()) in words, (error, out)
        else:
            assert "error" in out.splitlines()[2]  # the table's header has the error column
            pattern = r"\s+(?:│\s+)*".join(re.escape(w) for w in error.split())
            assert re.search(pattern, out), (error, out)


async def test_check_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("probe:\n  interval: soon\n  timeout: 0\nrollup:\n  window: 7m\n")
    code, out, err = await _run("check-config", str(path))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert any(line.startswith("probe.interval: ") for line in lines)
    assert any(line.startswith("probe.timeout: ") for line in lines)
    assert any(line.startswith("rollup.window: ") for line in lines)


async def test_check_config_accepts_the_shipped_examples() -> None:
    env = {"OPENAI_API_KEY": "x", "AZURE_OPENAI_API_KEY": "y"}
    code, out, _err = await _run("check-config", "config/monitor.example.yaml", env=env)
    assert code == 0 and "valid" in out
    code, out, _err = await _run("check-config", "config/demo.yaml", "--no-secrets")
    assert code == 0 and "2 endpoint(s)" in out


async def test_check_config_suggests_the_key_a_typo_meant_and_names_the_file_of_bad_yaml(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("probe:\n  intreval: 30s\n", encoding="utf-8")
    code, _out, err = await _run("check-config", str(path))
    assert code == 2
    assert "probe.intreval: unknown key; did you mean `interval`?" in err
    path.write_text("probe:\n  interval: [30s\n", encoding="utf-8")
    code, _out, err = await _run("check-config", str(path))
    assert code == 2
    assert err.startswith(f"{path}: line 3, column 1: invalid YAML"), err


async def test_config_env_var_wins_over_monitor_yaml_and_config_option_over_both(
    tmp_path: Path,
) -> None:
    # `db upgrade` names the store of the config it read: each file names its own.
    for name in ("monitor", "from-env", "from-option"):
        (tmp_path / f"{name}.yaml").write_text(
            f"storage: {{url: 'sqlite:///{name}.db'}}\n", encoding="utf-8"
        )
    code, out, err = await _run("db", "upgrade", cwd=tmp_path)
    assert code == 0 and "monitor.db" in out, err
    env = {"LLM_MONITOR_CONFIG": str(tmp_path / "from-env.yaml")}
    code, out, err = await _run("db", "upgrade", env=env, cwd=tmp_path)
    assert code == 0 and "from-env.db" in out, err
    code, out, err = await _run(
        "db", "upgrade", "--config", "from-option.yaml", env=env, cwd=tmp_path
    )
    assert code == 0 and "from-option.db" in out, err


async def test_a_missing_implicit_config_says_where_its_path_came_from(tmp_path: Path) -> None:
    code, _out, err = await _run("probe", cwd=tmp_path)
    assert code == 2
    assert "monitor.yaml: no such file (the default; pass --config FILE or set" in err
    env = {"LLM_MONITOR_CONFIG": str(tmp_path / "gone.yaml")}
    code, _out, err = await _run("probe", env=env, cwd=tmp_path)
    assert code == 2 and "gone.yaml: no such file (named by $LLM_MONITOR_CONFIG)" in err


async def test_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    code, _out, err = await _run("probe", "--config", str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_simulate_prints_each_endpoint_url_and_says_when_it_stops(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        yaml.safe_dump({"simulator": {"port": 0, "endpoints": [
            {"id": "oa", "flavor": "openai", "api_key": KEY},
            {"id": "az", "flavor": "azure", "api_key": KEY, "deployments": ["dep"]},
        ]}}),
        encoding="utf-8",
    )  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "simulate", "--config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Serving until"):
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, f"simulate ended early: {lines}"
            lines.append(line.rstrip("\n"))
        urls = dict(re.findall(r"^\s+(\S+)\s+\w+\s+(http://\S+)", "\n".join(lines), re.M))
        assert urls.keys() == {"oa", "az"}, lines
        assert urls["oa"].endswith("/oa/v1") and urls["az"].endswith("/az")
        assert any("deployments: dep" in line for line in lines)
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(
                f"{urls['oa']}/chat/completions",
                headers={"Authorization": f"Bearer {KEY}"},
                json={"model": "gpt-4.1-nano", "stream": True,
                      "messages": [{"role": "user", "content": "hi"}]},
            )  # fmt: skip
            assert answer.status_code == 200 and "data: [DONE]" in answer.text
        process.send_signal(stop_signal)
        rest, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err
    assert rest.decode().splitlines()[-1] == "Simulator stopped."


async def test_simulate_explains_a_port_in_use_and_a_missing_key(tmp_path: Path) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        path = tmp_path / "sim.yaml"
        path.write_text(yaml.safe_dump({"simulator": {"port": port, "endpoints": [{"id": "a"}]}}))
        code, out, err = await _run("simulate", "--config", str(path))
        assert code == 2 and out == ""
        assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in err
    finally:
        taken.close()
    path.write_text(
        yaml.safe_dump(
            {"simulator": {"endpoints": [{"id": "a", "api_key_env": "NO_SUCH_SIM_KEY"}]}}
        )
    )
    code, _out, err = await _run("simulate", "--config", str(path))
    assert code == 2 and "environment variable NO_SUCH_SIM_KEY is not set" in err


async def test_simulate_lists_the_problems_of_its_section_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        yaml.safe_dump({"simulator": {"endpoints": [{"id": "a", "ttft": {"medain": "1s"}}]}})
    )
    code, out, err = await _run("simulate", "--config", str(path))
    assert code == 2 and out == ""
    assert "simulator.endpoints[0] (a).ttft.medain: unknown key; did you mean `median`?" in err
    assert "Traceback" not in err


def _store_with_probes(path: Path, *endpoints: str) -> str:
    """A SQLite store at ``path`` holding one successful probe, 3 minutes ago, per endpoint."""
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        store.upgrade()
        at = datetime.now(UTC) - timedelta(minutes=3)
        store.add_probes([make_probe(endpoint=e, started_at=at) for e in endpoints])
    finally:
        store.close()
    return url


async def test_report_and_profile_read_a_demo_store_with_no_config_file(tmp_path: Path) -> None:
    # No --config, no $LLM_MONITOR_CONFIG, no ./monitor.yaml: the bundled demo config applies.
    url = _store_with_probes(tmp_path / "d.db", "openai", "azure-eastus")
    code, out, err = await _run("profile", "gpt-4.1-nano", "--store", url, "--format", "json",
                                cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    document = json.loads(out)
    assert document["refresh_interval_seconds"] == 60  # the demo's 1-minute windows
    assert {e["endpoint"] for e in document["live"]["endpoints"]} == {"openai", "azure-eastus"}
    code, out, err = await _run("report", "--store", url, "--since", "1h", "--format", "json",
                                cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    (model,) = json.loads(out)["models"]
    assert {e["endpoint"]: e["probes"] for e in model["endpoints"]} == {
        "openai": 1, "azure-eastus": 1,
    }  # fmt: skip


async def test_store_option_uses_the_config_found_and_overrides_its_storage(
    tmp_path: Path,
) -> None:
    url = _store_with_probes(tmp_path / "prod.db", "prod-east")
    (tmp_path / "monitor.yaml").write_text(
        yaml.safe_dump({
            "storage": {"url": "sqlite:///elsewhere.db"},
            "rollup": {"window": "1m"},
            "models": [{"id": "gpt-4.1-nano"}],
            "endpoints": [{"id": "prod-east", "model": "gpt-4.1-nano", "provider": "azure",
                           "base_url": "https://r.openai.azure.com", "deployment": "d",
                           "region": "eastus", "api_key_env": "UNSET_IN_TESTS"}],
        }),
        encoding="utf-8",
    )  # fmt: skip
    code, out, err = await _run("report", "--store", url, "--since", "1h", "--format", "json",
                                cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    (model,) = json.loads(out)["models"]
    assert [(e["endpoint"], e["probes"]) for e in model["endpoints"]] == [("prod-east", 1)]
    assert not (tmp_path / "elsewhere.db").exists()


async def test_store_option_without_a_config_explains_a_store_that_is_not_the_demos(
    tmp_path: Path,
) -> None:
    url = _store_with_probes(tmp_path / "prod.db", "openai", "prod-east")
    for command in (["report"], ["profile", "gpt-4.1-nano"]):
        code, out, err = await _run(*command, "--store", url, cwd=tmp_path)
        assert code == 2 and out == ""
        assert "holds probes of endpoints the demo did not make (prod-east)" in err
        assert "pass --config FILE" in err
    code, _out, err = await _run("report", "--store", "sqlite:///gone.db", cwd=tmp_path)
    assert code == 2
    assert "no store at gone.db (--store sqlite:///gone.db)" in err
    env = {"LLM_MONITOR_CONFIG": str(tmp_path / "gone.yaml")}
    code, _out, err = await _run("report", "--store", url, env=env, cwd=tmp_path)
    assert code == 2 and "gone.yaml: no such file (named by $LLM_MONITOR_CONFIG)" in err


def _card(refreshed_at: datetime, active: int) -> ModelLive:
    return ModelLive(
        model="gpt-4.1-nano", window_start=None, window_end=None, refreshed_at=refreshed_at,
        avg_uptime_ratio=0.99 if active else None, best_ttft_seconds=0.531 if active else None,
        best_output_tokens_per_second=111.0 if active else None, active_endpoints=active,
        total_endpoints=2, available_via=("OpenAI",) if active else (), endpoints=(),
    )  # fmt: skip


def test_demo_feed_holds_a_card_until_every_probe_started_before_it_has_ended() -> None:
    t0 = datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC)
    second = timedelta(seconds=1)
    feed = DemoFeed(margin_seconds=1.0)
    slow = feed.probe_started(t0)  # a probe still streaming when the card refreshes
    feed.add_profile(_card(t0 + second, active=1), 60)
    assert feed.ready(t0 + 10 * second) == []
    fast = feed.probe_started(t0 + 2 * second)
    feed.probe_ended(fast, make_probe(endpoint="openai", started_at=t0 + 2 * second))
    assert feed.ready(t0 + 10 * second) == []
    feed.probe_ended(slow, make_probe(endpoint="azure-eastus", started_at=t0))
    lines = feed.ready(t0 + 10 * second)
    assert [line.split()[1:3] for line in lines] == [
        ["probe", "azure-eastus"], ["profile", "gpt-4.1-nano:"], ["probe", "openai"],
    ]  # fmt: skip
    assert lines[0].startswith("[12:00:05]") and lines[1].startswith("[12:00:06]")
    assert lines[1].endswith("1/2 active endpoints · available via OpenAI · refreshed every minute")


def test_demo_feed_drains_the_probes_that_ended_at_shutdown_in_order() -> None:
    t0 = datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC)
    feed = DemoFeed()
    cut = feed.probe_started(t0 + timedelta(seconds=3))
    late = feed.probe_started(t0)
    feed.probe_ended(late, make_probe(endpoint="openai", started_at=t0))
    feed.probe_ended(cut, None)  # cancelled by the stop: the daemon records it
    cancelled = make_probe(endpoint="azure-eastus", started_at=t0 + timedelta(seconds=3),
                           outcome=Outcome.CANCELLED)  # fmt: skip
    feed.add_probe(cancelled)
    feed.add_probe(cancelled)  # seen twice (the last probes of the daemon): printed once
    lines = feed.drain()
    assert [line.split()[2:4] for line in lines] == [
        ["openai", "success"], ["azure-eastus", "cancelled"],
    ]  # fmt: skip
    assert feed.drain() == []


async def test_demo_prints_every_probe_in_order_and_its_store_reads_without_a_config(
    tmp_path: Path,
) -> None:
    """The demo as a user runs it, keeping its store: the filled card shows within two minutes
    (README: 7 s after the end of the first minute with probes, so 8–70 s after start); every
    stored probe is printed, the last ones before the stop too, in the order of their times;
    then ``report`` and ``profile`` read the kept store from a directory with no config."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LLM_MONITOR_DEMO_KEY", "LLM_MONITOR_CONFIG")}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "demo", "--port", "0", "--duration", "150",
        "--store", "sqlite:///d.db",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        profile_url = ""
        while not profile_url:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, "the demo ended before printing its URLs"
            if line.startswith("Profile:"):
                profile_url = line.split()[-1]
        deadline = asyncio.get_running_loop().time() + 120
        live: dict[str, object] = {}
        async with httpx.AsyncClient(timeout=5) as client:
            while asyncio.get_running_loop().time() < deadline:
                live = (await client.get(profile_url)).json()["live"]
                if all(value is not None for value in live.values()):
                    break
                await asyncio.sleep(2)
        assert all(value is not None for value in live.values()), live
        assert live["total_endpoints"] == 2 and live["available_via"]
        # The demo prints the filled card soon after the API has it (once every probe that
        # started before the card's refresh has ended); the empty card of the start
        # ("0/2 active endpoints") may still be unread before it.
        printed: list[str] = []
        while not any(FILLED_CARD.search(line) for line in printed):
            line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
            assert line, "the demo ended before printing the filled profile card"
            printed.append(line)
        process.send_signal(signal.SIGINT)
        rest, _err = await asyncio.wait_for(process.communicate(), 30)
        out = "".join(printed).encode() + rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    text = out.decode()
    assert "probe    openai" in text and "probe    azure-eastus" in text
    card = FILLED_CARD.search(text)
    assert card is not None and "refreshed every minute" in text[card.start() :].splitlines()[0]
    stamped = re.findall(r"^\[(\d\d:\d\d:\d\d)\] (probe|profile) ", text, re.M)
    seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in
               (stamp.split(":") for stamp, _kind in stamped)]  # fmt: skip
    steps = [(b - a) % 86_400 for a, b in itertools.pairwise(seconds)]  # past midnight too
    assert all(step < 3600 for step in steps), text  # never back in time
    store = open_store("sqlite:///" + str(tmp_path / "d.db"))
    try:
        stored = sum(len(rows) for rows in store.probe_rows(
            datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1)
        ).values())  # fmt: skip
    finally:
        store.close()
    assert sum(kind == "probe" for _stamp, kind in stamped) == stored > 0
    assert "llm-monitor report --store sqlite:///d.db" in text
    code, out_text, err = await _run("profile", "gpt-4.1-nano", "--store", "sqlite:///d.db",
                                     "--format", "json", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    assert json.loads(out_text)["live"]["total_endpoints"] == 2
    code, out_text, err = await _run("report", "--store", "sqlite:///d.db", "--since", "1h",
                                     "--format", "json", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    (model,) = json.loads(out_text)["models"]
    assert sum(e["probes"] for e in model["endpoints"]) > 0, model  # the complete windows


def test_the_package_builds_without_setuptools_deprecation_warnings(tmp_path: Path) -> None:
    # setuptools 77+ warns (and from 2027-02-18 fails) on `project.license` as a TOML table; the
    # wheel is built from a copy so that no build/ directory lands in the working tree.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "monitor", source / "monitor",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--verbose",
         "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    assert "DeprecationWarning" not in output, output
    (wheel,) = (tmp_path / "dist").glob("llm_endpoint_monitor-*.whl")
    assert wheel.stat().st_size > 0
