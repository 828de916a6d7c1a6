"""Configuration: every validation rule has a failing file; valid files resolve as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config, parse_config
from monitor.core.errors import ConfigError
from monitor.core.providers import PROVIDER_IDS
from monitor.probing.providers import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent
INVALID = sorted((ROOT / "tests" / "configs" / "invalid").glob("*.yaml"))
KEYS = {"OPENAI_API_KEY": "sk-test-openai", "AZURE_OPENAI_API_KEY": "azure-test-key"}


def _expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: ...'"
    return first.removeprefix("# expect: ")


def _check_config(path: Path) -> tuple[int, list[str]]:
    """``llm-monitor check-config PATH``: the exit code and the lines it printed."""
    result = CliRunner().invoke(cli, ["check-config", str(path)], env=KEYS)
    return result.exit_code, result.output.splitlines()


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_check_config_rejects_each_invalid_file_with_a_located_message(path: Path) -> None:
    code, lines = _check_config(path)
    expected = _expected(path)
    assert code == 2
    assert any(expected in line for line in lines), f"{expected!r} not in {lines}"


def test_there_is_a_failing_file_for_many_rules() -> None:
    # A guard against the directory being emptied by accident.
    assert len(INVALID) >= 30


def test_every_problem_is_listed_not_just_the_first() -> None:
    text = """
probe:
  interval: fast
  timeout: -1
rollup:
  window: 7m
bogus: 1
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ={})
    locations = {problem.split(":")[0] for problem in caught.value.problems}
    assert {"probe.interval", "probe.timeout", "rollup.window", "bogus"} <= locations


def test_example_config_is_valid_and_carries_the_model_facts() -> None:
    config = load_config(ROOT / "config" / "monitor.example.yaml", environ=KEYS)
    model = config.model("gpt-4.1-nano")
    assert model is not None
    assert model.pricing is not None
    assert model.pricing.input_per_million == pytest.approx(0.10)
    assert model.pricing.output_per_million == pytest.approx(0.40)
    assert model.context_window == 1_047_576
    assert model.max_output_tokens == 32_768
    providers = {e.provider for e in config.endpoints}
    assert providers == {"openai", "azure"}


def test_defaults_apply_and_endpoint_overrides_win_key_by_key() -> None:
    text = """
probe:
  interval: 30s
  max_tokens: 32
  headers: {x-team: core}
models: [{id: m}]
endpoints:
  - {id: a, model: m, provider: openai, base_url: "https://api.openai.com/v1/",
     api_key_env: OPENAI_API_KEY}
  - {id: b, model: m, provider: openai, base_url: "https://api.openai.com/v1",
     api_key_env: OPENAI_API_KEY, interval: 15s, timeout: 5s, headers: {x-env: prod}}
"""
    a, b = parse_config(text, environ=KEYS).endpoints
    assert a.probe.interval == 30 and a.probe.max_tokens == 32 and a.probe.timeout == 30
    assert a.base_url == "https://api.openai.com/v1"  # trailing slash dropped
    assert b.probe.interval == 15 and b.probe.timeout == 5 and b.probe.max_tokens == 32
    assert b.probe.connect_timeout == 5  # never longer than the whole probe
    assert dict(b.probe.headers) == {"x-team": "core", "x-env": "prod"}
    assert a.probe.max_tokens_param == "max_completion_tokens"


def test_an_empty_file_gives_the_documented_defaults() -> None:
    config = parse_config("", environ={})
    schema = config.schema
    assert schema.storage.url == "sqlite:///monitor.db"
    assert (schema.server.host, schema.server.port) == ("127.0.0.1", 9464)
    assert schema.probe.interval == 60 and schema.probe.timeout == 30
    assert schema.probe.max_tokens == 96
    assert schema.rollup.window == 1800 and schema.rollup.raw_retention == 30 * 86400
    assert schema.profile.uptime_window == 86400


def test_secrets_come_from_the_environment_and_never_show_in_repr() -> None:
    text = """
models: [{id: m}]
endpoints:
  - {id: a, model: m, provider: openai, base_url: "https://x/v1", api_key_env: MY_KEY}
"""
    (endpoint,) = parse_config(text, environ={"MY_KEY": "sk-canary-0123456789"}).endpoints
    assert endpoint.api_key is not None
    assert endpoint.api_key.get_secret_value() == "sk-canary-0123456789"
    assert "sk-canary" not in repr(endpoint)
    assert endpoint.api_key_source == "env:MY_KEY"


def test_api_key_file_is_read_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "openai.key").write_text("sk-from-file\n", encoding="utf-8")
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "models: [{id: m}]\nendpoints:\n  - {id: a, model: m, provider: openai,"
        " base_url: 'https://x/v1', api_key_file: openai.key}\n",
        encoding="utf-8",
    )
    (endpoint,) = load_config(path, environ={}).endpoints
    assert endpoint.api_key is not None
    assert endpoint.api_key.get_secret_value() == "sk-from-file"


def test_azure_defaults_and_keyless_compatible_endpoint() -> None:
    text = """
models: [{id: m}]
endpoints:
  - {id: az, model: m, provider: azure, base_url: "https://r.openai.azure.com",
     deployment: dep, api_key_env: AZ}
  - {id: old, model: m, provider: azure, base_url: "https://r.openai.azure.com",
     deployment: dep, api_version: "2024-06-01", api_key_env: AZ}
  - {id: local, model: m, provider: openai_compatible, base_url: "http://127.0.0.1:8000/v1"}
"""
    az, old, local = parse_config(text, environ={"AZ": "k"}).endpoints
    assert az.api_version == "2024-10-21" and az.request_model == "dep"
    assert az.probe.max_tokens_param == "max_completion_tokens"
    assert old.probe.max_tokens_param == "max_tokens"
    assert local.auth == "none" and local.api_key is None
    assert local.probe.max_tokens_param == "max_tokens"


def test_disabled_endpoints_are_not_probed() -> None:
    text = """
models: [{id: m}]
endpoints:
  - {id: a, model: m, provider: openai_compatible, base_url: "http://h/v1", enabled: false}
  - {id: b, model: m, provider: openai_compatible, base_url: "http://h/v1"}
"""
    assert [e.id for e in parse_config(text, environ={}).endpoints] == ["b"]


def test_secrets_can_be_left_unresolved_for_offline_validation() -> None:
    text = """
models: [{id: m}]
endpoints:
  - {id: a, model: m, provider: openai, base_url: "https://x/v1", api_key_env: UNSET_VAR_X}
"""
    with pytest.raises(ConfigError):
        parse_config(text, environ={})
    (endpoint,) = parse_config(text, environ={}, resolve_secrets=False).endpoints
    assert endpoint.api_key is None


def test_check_config_lists_the_simulator_sections_problems_after_the_others(
    tmp_path: Path,
) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        """
probe: {interval: soon}
simulator:
  endpoints:
    - {id: sim, ttft: {median: 300ms, sprad: 0.2}}
    - {id: az, flavor: azure}
    - {id: sim, faults: {server_error: 0.7, reset: 0.6}, outages: [{every: 10s, duration: 20s}]}
  prot: 5
""",
        encoding="utf-8",
    )
    code, lines = _check_config(path)
    assert code == 2
    assert lines == [
        "probe.interval: expected a duration like 500ms, 30s, 5m, 24h or 30d, got 'soon'",
        "simulator.endpoints[0] (sim).ttft.sprad: unknown key; did you mean `spread`?",
        "simulator.endpoints[1] (az): an azure endpoint needs at least one deployment",
        "simulator.endpoints[2] (sim).faults: fault probabilities add up to 1.3; they must be <= 1",
        "simulator.endpoints[2] (sim).outages[0]: duration must be shorter than every"
        " (otherwise it is a mode)",
        "simulator.endpoints: Tuple should have at least 1 item after validation, not 0",
        "simulator.prot: unknown key; did you mean `port`?",
    ]


def test_the_product_config_keeps_the_simulator_section_as_written() -> None:
    # Only the simulator knows its keys: it validates them when it is used.
    config = parse_config("simulator: {prot: 1, endpoints: [{id: a}]}", environ={})
    assert config.schema.simulator == {"prot": 1, "endpoints": [{"id": "a"}]}


def test_the_product_config_loads_without_the_simulator() -> None:
    code = "import sys, monitor.config; print(sorted(m for m in sys.modules if 'simulator' in m))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert loaded.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("1500ms", 1.5),
        ("30s", 30),
        (" 30 s ", 30),
        ("30", 30),
        (30, 30),
        (0.5, 0.5),
        ("1.5m", 90),
        ("2h", 7200),
        ("1d", 86400),
    ],
)
def test_config_durations_take_a_unit_or_seconds(written: object, seconds: float) -> None:
    text = f"probe: {{jitter: {written!r}}}"  # a quoted string or a number in YAML
    assert parse_config(text, environ={}).schema.probe.jitter == pytest.approx(seconds)


@pytest.mark.parametrize("written", ["\u0663\u0660s", "\uff13\uff10s", "-5s", "5 seconds", "1e3s"])
def test_config_durations_refuse_other_digits_signs_and_units(written: str) -> None:
    # Only ASCII digits, as in --since/--window and the API's parameters: the one grammar.
    with pytest.raises(ConfigError) as caught:
        parse_config(f"probe: {{jitter: {written!r}}}", environ={})
    assert caught.value.problems == [
        f"probe.jitter: expected a duration like 500ms, 30s, 5m, 24h or 30d, got {written!r}"
    ]


def test_every_provider_id_is_accepted_named_and_has_a_probe() -> None:
    # The ids live in monitor.core.providers; the config, the profile and the probes read them.
    text = yaml.safe_dump({
        "models": [{"id": "m"}],
        "endpoints": [
            {"id": provider, "model": "m", "provider": provider, "base_url": "https://h/v1",
             "api_key_env": "K", **({"deployment": "d"} if provider == "azure" else {})}
            for provider in PROVIDER_IDS
        ],
    })  # fmt: skip
    endpoints = parse_config(text, environ={"K": "key"}).endpoints
    assert [e.provider for e in endpoints] == list(PROVIDER_IDS)
    assert [e.provider_display_name for e in endpoints] == ["OpenAI", "Azure", "OpenAI-compatible"]
    assert set(PROVIDERS) == set(PROVIDER_IDS)


@pytest.mark.parametrize(
    ("api_version", "newer", "path"),
    [
        (None, True, "/openai/deployments/dep/chat/completions?api-version=2024-10-21"),
        ("2024-06-01", False, "/openai/deployments/dep/chat/completions?api-version=2024-06-01"),
        ("2024-09-01-preview", True, "/openai/deployments/dep/chat/completions"),
        ("2025-04-01-preview", True, "/openai/deployments/dep/chat/completions"),
        ("preview", True, "/openai/deployments/dep/chat/completions?api-version=preview"),
        ("v1", True, "/openai/v1/chat/completions"),
    ],
)
def test_an_azure_api_version_decides_the_probes_url_and_parameters(
    api_version: str | None, newer: bool, path: str
) -> None:
    # From 2024-09-01-preview on (and for the v1 API) Azure takes max_completion_tokens and
    # stream_options; older versions reject both with a 400.
    spec = {"id": "az", "model": "m", "provider": "azure", "base_url": "https://r.openai.azure.com",
            "deployment": "dep", "api_key_env": "K"}  # fmt: skip
    if api_version is not None:
        spec["api_version"] = api_version
    text = yaml.safe_dump({"models": [{"id": "m"}], "endpoints": [spec]})
    (endpoint,) = parse_config(text, environ={"K": "key"}).endpoints
    request = PROVIDERS["azure"].build_request(endpoint, prompt="hi", probe_id="p", credential="k")
    body = json.loads(request.body)
    assert path in request.url
    assert ("max_completion_tokens" in body, "max_tokens" in body) == (newer, not newer)
    assert ("stream_options" in body) is newer


def test_embeds_are_protected_unless_public_embeds_says_otherwise(tmp_path: Path) -> None:
    assert parse_config("", environ={}).schema.server.public_embeds is False
    path = tmp_path / "monitor.yaml"
    path.write_text("server: {api_token_env: API_TOKEN, public_embeds: true}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", str(path)], env={"API_TOKEN": "t0ken"})
    assert result.exit_code == 0, result.output
    assert load_config(path, environ={"API_TOKEN": "t0ken"}).schema.server.public_embeds is True


def test_public_embeds_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text("server: {public_embeds: sometimes}\n", encoding="utf-8")
    code, lines = _check_config(path)
    assert code == 2
    assert any("server.public_embeds: Input should be a valid boolean" in line for line in lines)
