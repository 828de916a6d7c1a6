"""Secrets stay secret: canary API keys (from the environment and from a file) and a canary API
token go through a running daemon, and none of them shows up in its log, its metrics, any API
answer (errors included), the report files it writes, or any byte of its SQLite store, even
where the provider echoes a masked key in an auth error. Keys can only come from the
environment or a file. The server binds 127.0.0.1 unless told otherwise, and the bearer token
protects the JSON API while metrics and health stay open.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from monitor.config import parse_config
from monitor.core.errors import ConfigError
from monitor.core.outcomes import Outcome
from monitor.probing.runner import ProbeRunner
from monitor.simulator import Simulator
from monitor.simulator.routes import mask_key

from .harness import (
    KEY,
    MODEL,
    ROOT,
    DaemonProcess,
    free_port,
    monitor_config,
    monitored,
    sim_config,
    sim_endpoint,
)


def _canary(prefix: str) -> str:
    return f"{prefix}CANARY{secrets.token_hex(12)}"


#: The key the simulator accepts, given to the daemon: it is sent on every probe.
GOOD = _canary("sk-good-")
#: Keys the simulator refuses: OpenAI echoes them masked in its 401 body, Azure does not.
WRONG = _canary("sk-wrong-")
AZURE = _canary("azure")
#: A gateway key (not ``sk-``-shaped), read from a file, refused and echoed masked.
GATEWAY = _canary("gw-")
#: The bearer token of the daemon's own API.
TOKEN = _canary("api-token-")
CANARIES = {"GOOD": GOOD, "WRONG": WRONG, "AZURE": AZURE, "GATEWAY": GATEWAY, "TOKEN": TOKEN}


@dataclass
class Exposure:
    """Every text a running daemon gave out or left behind."""

    texts: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    auth_checks: dict[str, int] = field(default_factory=dict)
    listening: list[str] = field(default_factory=list)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def exposure(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Exposure]:
    tmp = tmp_path_factory.mktemp("secrets")
    (tmp / "gateway.key").write_text(GATEWAY + "\n")
    config_sim = sim_config(
        sim_endpoint("good", api_key=GOOD),
        sim_endpoint("wrong"),  # wants KEY, gets WRONG
        sim_endpoint("azure", flavor="azure", deployments=["nano"]),
        sim_endpoint("gateway"),
    )
    found = Exposure()
    async with Simulator(config_sim) as sim:
        port = free_port()
        db = tmp / "monitor.db"
        endpoints = [
            monitored(sim, "good"),
            monitored(sim, "wrong", api_key_env="WRONG_KEY"),
            {"id": "azure", "model": MODEL, "provider": "azure", "deployment": "nano",
             "base_url": sim.endpoint_url("azure"), "api_key_env": "AZURE_KEY"},
            {"id": "gateway", "model": MODEL, "provider": "openai_compatible",
             "base_url": sim.endpoint_url("gateway"), "api_key_file": "gateway.key"},
        ]  # fmt: skip
        config = monitor_config(
            tmp / "monitor.yaml",
            endpoints,
            storage_url=f"sqlite:///{db}",
            port=port,
            server={"port": port, "api_token_env": "API_TOKEN"},  # the default host
            reports={"directory": str(tmp / "reports")},
        )
        env = {"SIM_KEY": GOOD, "WRONG_KEY": WRONG, "AZURE_KEY": AZURE, "API_TOKEN": TOKEN}
        async with DaemonProcess(config, tmp / "daemon.log", port=port, env=env) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            found.listening = _listening_addresses(port)
            # Two windows (5 s) and their settle time (3 s): a report is written.
            await asyncio.sleep(12)
            await _read_everything(daemon, found)
            code, _ = await daemon.stop()
            assert code == 0, daemon.log_text()[-3000:]
        found.texts["daemon log"] = daemon.log_text()
        reports = sorted((tmp / "reports").glob("report-*"))
        assert {p.suffix for p in reports} == {".md", ".json"}, "no report was written"
        for report in reports:
            found.texts[f"report {report.name}"] = report.read_text()
        for path in tmp.glob("monitor.db*"):
            found.blobs[path.name] = path.read_bytes()
        found.texts["store text columns"] = _text_columns(db)
        for probe in _stored_last(db):
            found.outcomes[probe[0]] = Outcome(probe[1])
    yield found


async def _read_everything(daemon: DaemonProcess, found: Exposure) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    openapi = (await daemon.get("/openapi.json")).json()
    paths = [p.replace("{id}", MODEL) for p in openapi["paths"]]
    assert "/api/v1/endpoints" in paths and "/metrics" in paths
    paths += [
        "/api/v1/models/no-such-model/profile",  # 404
        "/api/v1/rollups?since=not-a-time",  # 422
        "/api/v1/rollups?endpoint=no-such-endpoint",  # 404
        "/api/v1/rollups?since=1h&until=now&window=5s",
        "/no/such/route",  # 404
    ]
    for path in paths:
        response = await daemon.get(path, headers=bearer)
        assert response.status_code < 500, (path, response.text)
        found.texts[f"GET {path}"] = response.text
    # The token guards the JSON API only; scrapers and health checks need none.
    for path in ("/api/v1/endpoints", "/api/v1/rollups", f"/api/v1/models/{MODEL}/profile"):
        for name, headers in (("none", {}), ("wrong", {"Authorization": "Bearer nope"}),
                              ("basic", {"Authorization": f"Basic {TOKEN}"}),
                              ("right", bearer)):  # fmt: skip
            response = await daemon.get(path, headers=headers)
            found.auth_checks[f"{path} {name}"] = response.status_code
            found.texts[f"GET {path} ({name} token)"] = response.text
    for path in ("/metrics", "/healthz", "/readyz", "/openapi.json"):
        found.auth_checks[f"{path} none"] = (await daemon.get(path)).status_code


def _listening_addresses(port: int) -> list[str]:
    """The local addresses of the sockets listening on ``port`` (from /proc/net/tcp{,6})."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def _text_columns(db: Path) -> str:
    """Every text value of every table of the store, one per line."""
    values = []
    with sqlite3.connect(db) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master "
                                                    "WHERE type = 'table'")]  # fmt: skip
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):  # our own table names
                values += [v for v in row if isinstance(v, str)]
    return "\n".join(values)


def _stored_last(db: Path) -> list[tuple[str, str]]:
    """Each endpoint's last outcome (SQLite takes the bare columns from the max() row)."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT endpoint, outcome, max(started_at) FROM probes GROUP BY endpoint"
        )
        return [(endpoint, outcome) for endpoint, outcome, _ in rows]


def _leaks(found: Exposure, secret: str) -> list[str]:
    places = [name for name, text in found.texts.items() if secret in text]
    places += [name for name, blob in found.blobs.items() if secret.encode() in blob]
    return places


def test_the_probes_ran_and_failed_as_configured(exposure: Exposure) -> None:
    assert exposure.outcomes == {
        "good": Outcome.SUCCESS,
        "wrong": Outcome.AUTH_ERROR,
        "azure": Outcome.AUTH_ERROR,
        "gateway": Outcome.AUTH_ERROR,
    }
    assert "Incorrect API key provided" in exposure.texts["daemon log"]


@pytest.mark.parametrize("name", sorted(CANARIES))
def test_no_canary_is_anywhere(exposure: Exposure, name: str) -> None:
    secret = CANARIES[name]
    assert len(exposure.texts) > 20 and exposure.blobs
    assert _leaks(exposure, secret) == []
    # Nor its longer pieces (a key split over lines, partly escaped, partly masked).
    for piece in (secret[:16], secret[-16:], secret[6:22]):
        assert _leaks(exposure, piece) == [], piece


@pytest.mark.parametrize("name", ["WRONG"])
def test_an_sk_key_the_provider_echoes_masked_is_masked_out(exposure: Exposure, name: str) -> None:
    assert _leaks(exposure, mask_key(CANARIES[name])) == []
    assert _leaks(exposure, CANARIES[name][:8]) == []


def test_any_key_the_provider_echoes_masked_is_masked_out(exposure: Exposure) -> None:
    assert _leaks(exposure, mask_key(GATEWAY)) == []


def test_the_server_listens_on_loopback_only_by_default(exposure: Exposure) -> None:
    assert exposure.listening == ["0100007F"]  # 127.0.0.1, and nothing else


def test_the_api_token_guards_the_json_api_only(exposure: Exposure) -> None:
    checks = exposure.auth_checks
    for path in ("/api/v1/endpoints", "/api/v1/rollups", f"/api/v1/models/{MODEL}/profile"):
        assert checks[f"{path} none"] == 401
        assert checks[f"{path} wrong"] == 401
        assert checks[f"{path} basic"] == 401
        assert checks[f"{path} right"] == 200
    for path in ("/metrics", "/healthz", "/readyz", "/openapi.json"):
        assert checks[f"{path} none"] == 200
    unauthorized = exposure.texts["GET /api/v1/endpoints (none token)"]
    assert yaml.safe_load(unauthorized)["error"]["code"] == "unauthorized"


# --- where keys may come from -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "endpoint_extra"),
    [
        ("a key in the file", {"api_key": WRONG}),
        ("a key in a header", {"headers": {"Authorization": f"Bearer {WRONG}"}}),
        ("an api-key header", {"headers": {"api-key": WRONG}}),
        ("a key in the URL", {"base_url": f"https://user:{WRONG}@api.example.com/v1"}),
    ],
)
def test_a_key_written_into_the_config_is_refused_without_echoing_it(
    tmp_path: Path, where: str, endpoint_extra: dict[str, Any]
) -> None:
    endpoint = {"id": "e", "model": MODEL, "provider": "openai",
                "base_url": "https://api.example.com/v1", "api_key_env": "SIM_KEY",
                **endpoint_extra}  # fmt: skip
    path = monitor_config(
        tmp_path / "monitor.yaml", [endpoint], storage_url="sqlite:///m.db", port=1
    )
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={"SIM_KEY": KEY, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2, (where, done.stdout, done.stderr)
    assert "endpoints[0] (e)" in done.stdout + done.stderr
    assert WRONG not in done.stdout + done.stderr, where
    assert WRONG[4:16] not in done.stdout + done.stderr, where


async def test_a_key_with_a_line_break_never_reaches_an_error_text(tmp_path: Path) -> None:
    tail = secrets.token_hex(12)
    (tmp_path / "two-lines.key").write_text(f"sk-first-line\n{tail}\n")
    async with Simulator(sim_config(sim_endpoint("a"))) as sim:
        text = yaml.safe_dump(
            {"models": [{"id": MODEL}],
             "endpoints": [monitored(sim, "a", api_key_env=None, api_key_file="two-lines.key")]}
        )  # fmt: skip
        refusal: str | None = None
        try:
            config = parse_config(text, source=tmp_path / "monitor.yaml")
        except ConfigError as exc:  # refusing such a key is a fine answer too
            refusal = str(exc)
        if refusal is not None:
            assert tail not in refusal
            return
        runner = ProbeRunner()
        try:
            result = await runner.probe(config.endpoints[0])
        finally:
            await runner.aclose()
    assert result.error is not None
    assert tail not in result.error, result.error


async def test_the_api_needs_no_token_when_none_is_configured(tmp_path: Path) -> None:
    async with Simulator(sim_config(sim_endpoint("a"))) as sim:
        port = free_port()
        config = monitor_config(
            tmp_path / "monitor.yaml", [monitored(sim, "a")],
            storage_url=f"sqlite:///{tmp_path / 'm.db'}", port=port,
        )  # fmt: skip
        async with DaemonProcess(config, tmp_path / "daemon.log", port=port) as daemon:
            await daemon.start()
            await daemon.wait_ready()
            async with httpx.AsyncClient() as client:
                response = await client.get(f"{daemon.base}/api/v1/endpoints")
            assert response.status_code == 200
            code, _ = await daemon.stop()
            assert code == 0
