"""The Prometheus rules, their promtool tests, and the example Prometheus and Alertmanager configs.

promtool and amtool come from Debian's ``prometheus`` and ``prometheus-alertmanager`` packages.
Without them these tests skip, unless ``LLM_MONITOR_REQUIRE_PROMTOOL=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.core.outcomes import EXCLUDED_FROM_UPTIME, Outcome
from monitor.metrics import LATENCY_BUCKETS, SPEED_BUCKETS

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "config" / "prometheus"
RULES = PROMETHEUS / "rules" / "llm-monitor.rules.yml"
ALERTS = PROMETHEUS / "rules" / "llm-monitor.alerts.yml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
PROMETHEUS_CONFIGS = [
    PROMETHEUS / "prometheus.yml",
    PROMETHEUS / "prometheus.compose.yml",
    PROMETHEUS / "prometheus.agents.yml",
]
ALERTMANAGER = PROMETHEUS / "alertmanager.yml"
RUNBOOK = ROOT / "docs" / "alerts.md"
RUNBOOK_BASE = "https://example.com/llm-endpoint-monitor/docs/alerts.md"
REQUIRE_ENV = "LLM_MONITOR_REQUIRE_PROMTOOL"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {package})"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} and {REQUIRE_ENV}=1")
        pytest.skip(reason)
    return path


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules(path: Path) -> list[dict[str, Any]]:
    return [rule for group in _load(path)["groups"] for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return _rules(ALERTS)


def test_rule_files_pass_promtool_check() -> None:
    promtool = _tool("promtool", "prometheus")
    result = _run(promtool, "check", "rules", str(RULES), str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_test_file_passes_promtool() -> None:
    promtool = _tool("promtool", "prometheus")
    # One promtool per file, all at once: the three-day burn-rate file dominates the time.
    runs = {
        path.name: subprocess.Popen(
            [promtool, "test", "rules", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in RULE_TESTS
    }
    failures = {}
    try:
        for name, process in runs.items():
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                failures[name] = output
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    assert not failures, "\n".join(f"== {name}\n{out}" for name, out in failures.items())


@pytest.mark.parametrize("config", PROMETHEUS_CONFIGS, ids=lambda path: path.name)
def test_example_prometheus_config_is_valid_and_loads_the_tested_rules(config: Path) -> None:
    promtool = _tool("promtool", "prometheus")
    result = _run(promtool, "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = {(config.parent / rule).resolve() for rule in _load(config)["rule_files"]}
    assert loaded == {RULES, ALERTS}
    jobs = [job["job_name"] for job in _load(config)["scrape_configs"]]
    assert "llm-monitor" in jobs, "LLMMonitorDown and LLMMonitorAbsent expect job=llm-monitor"


def test_alertmanager_example_is_valid() -> None:
    amtool = _tool("amtool", "prometheus-alertmanager")
    result = _run(amtool, "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page", "alertname=LLMEndpointDown"], "pager"),
        (["severity=ticket", "alertname=LLMEndpointRateLimited"], "ticket"),
        (["severity=page", "alertname=LLMMonitorDown"], "pager"),
    ],
)
def test_alertmanager_routes_pages_to_the_pager_and_tickets_to_the_queue(
    labels: list[str], receiver: str
) -> None:
    amtool = _tool("amtool", "prometheus-alertmanager")
    result = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_alertmanager_mutes_endpoint_alerts_while_the_whole_model_is_down() -> None:
    inhibit = _load(ALERTMANAGER)["inhibit_rules"]
    model_wide = [rule for rule in inhibit if "LLMModelAllEndpointsDown" in str(rule)]
    assert len(model_wide) == 1
    (rule,) = model_wide
    assert rule["equal"] == ["model"]
    (target,) = rule["target_matchers"]
    pattern = re.fullmatch(r'alertname=~"(.+)"', target)
    assert pattern is not None
    per_endpoint = [a["alert"] for a in _alerts() if a["alert"].startswith("LLMEndpoint")]
    assert per_endpoint and all(re.fullmatch(pattern[1], name) for name in per_endpoint)
    assert set(_load(ALERTMANAGER)["route"]["group_by"]) == {"model", "endpoint"}


def _test_cases() -> list[tuple[str, str, bool]]:
    """(file, alert name, fires) for every alert_rule_test case of every test file."""
    cases = []
    for path in RULE_TESTS:
        for group in _load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                cases.append((path.name, case["alertname"], bool(case.get("exp_alerts"))))
    return cases


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    cases = _test_cases()
    alerts = {alert["alert"] for alert in _alerts()}
    firing = {name for _, name, fires in cases if fires}
    quiet = {name for _, name, fires in cases if not fires}
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"
    assert {name for _, name, _ in cases} <= alerts, "tests of alerts that do not exist"


def test_every_firing_case_checks_exact_labels_and_annotations() -> None:
    for path in RULE_TESTS:
        for group in _load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                for expected in case.get("exp_alerts") or []:
                    where = f"{path.name}: {group.get('name')}: {case['alertname']}"
                    assert "severity" in expected["exp_labels"], where
                    annotations = set(expected["exp_annotations"])
                    assert annotations == {"summary", "description", "runbook_url"}, where


def test_rule_tests_load_both_rule_files_and_evaluate_recordings_first() -> None:
    groups = [group["name"] for group in _load(RULES)["groups"]]
    groups += [group["name"] for group in _load(ALERTS)["groups"]]
    for path in RULE_TESTS:
        test_file = _load(path)
        loaded = {(path.parent / rule).resolve() for rule in test_file["rule_files"]}
        assert loaded == {RULES, ALERTS}, path.name
        assert test_file["group_eval_order"] == groups, path.name


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    runbook_sections = re.findall(r"^## (\w+)$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    names = [alert["alert"] for alert in _alerts()]
    assert len(set(names)) == len(names)
    for alert in _alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        annotations = alert["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#{name.lower()}", name
        assert re.search(r"\{\{ \$(labels|value)\b", annotations["description"]), name
    assert sorted(runbook_sections) == sorted(names), "one runbook section per alert, no other"


def test_counted_and_failed_outcomes_follow_the_uptime_definition() -> None:
    """The rules' outcome regexes follow docs/design.md#counted-and-excluded-outcomes, as
    monitor.core.outcomes implements it."""
    text = RULES.read_text(encoding="utf-8") + ALERTS.read_text(encoding="utf-8")
    known = {outcome.value for outcome in Outcome}
    excluded = {outcome.value for outcome in EXCLUDED_FROM_UPTIME}
    negated = set(re.findall(r'outcome!~"([^"]+)"', text))
    assert negated, "the rules select counted and failed probes by outcome"
    for regex in negated:
        values = set(regex.split("|"))
        assert values <= known, regex
        assert values in (excluded, excluded | {"success"}), regex
    for regex in re.findall(r'outcome=~?"([^"]+)"', text):
        assert set(regex.split("|")) <= known, regex


@pytest.mark.parametrize(
    ("metric", "operator", "buckets"),
    [
        ("endpoint:llm_monitor_time_to_first_token_seconds:p95_rate5m", ">", LATENCY_BUCKETS),
        ("endpoint:llm_monitor_output_tokens_per_second:p50_rate5m", "<", SPEED_BUCKETS),
    ],
)
def test_fixed_thresholds_sit_on_histogram_bucket_bounds(
    metric: str, operator: str, buckets: tuple[float, ...]
) -> None:
    text = ALERTS.read_text(encoding="utf-8")
    thresholds = re.findall(rf"{re.escape(metric)}\s*{operator}\s*([\d.]+)", text)
    assert thresholds
    for threshold in thresholds:
        assert float(threshold) in buckets


def test_burn_rate_windows_are_recorded() -> None:
    recorded = {rule["record"] for rule in _rules(RULES)}
    used = set(re.findall(r"endpoint:[a-z_]+:\w+", ALERTS.read_text(encoding="utf-8")))
    assert used <= recorded, f"alerts use unrecorded series: {sorted(used - recorded)}"
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"endpoint:llm_monitor_probe_errors:ratio_rate{window}" in recorded
