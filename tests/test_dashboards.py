"""The Grafana dashboards: generated, consistent with the metrics, and their queries run.

The queries are run on a throwaway Prometheus (Debian's ``prometheus`` package), which also loads
the rule files. Without the binary that test skips, unless ``LLM_MONITOR_REQUIRE_PROMTOOL=1``.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from dashboards import generate
from monitor.config import load_config
from monitor.core.profile import ModelLive
from monitor.metrics import LiveCollector, LiveState, ProbeMetrics
from tests.store.factories import make_probe, make_rollup

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
PROVISIONING = DASHBOARDS / "provisioning"
RULE_FILES = sorted((ROOT / "config" / "prometheus" / "rules").glob("*.yml"))
COMPOSE_CONFIG = ROOT / "config" / "compose" / "monitor.yaml"
REQUIRE_ENV = "LLM_MONITOR_REQUIRE_PROMTOOL"
#: Labels that a scrape adds to every series (not in the registry).
TARGET_LABELS = {"job", "instance"}
#: Series that Prometheus itself makes.
PROMETHEUS_SERIES = {"up"}


def _boards() -> dict[str, dict[str, Any]]:
    return {name: build() for name, build in generate.DASHBOARDS.items()}


def _panels() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, board in _boards().items():
        for panel in generate.panels_of(board):
            yield name, panel


def _raw_exprs() -> Iterator[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL with the Grafana variables left in)."""
    for name, panel in _panels():
        for query in panel.get("targets", []):
            yield name, panel["title"], query["expr"]


def _rule_exprs() -> list[tuple[str, str, str]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                out.append((path.name, rule.get("record") or rule["alert"], rule["expr"]))
    return out


# --- generation --------------------------------------------------------------------------------


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    for name, board in _boards().items():
        committed = (DASHBOARDS / name).read_text(encoding="utf-8")
        assert committed == generate.render(board), f"{name}: run python dashboards/generate.py"
        assert generate.render(generate.DASHBOARDS[name]()) == committed, "not deterministic"


def test_check_mode_passes_on_the_repository_and_fails_on_a_stale_file(tmp_path: Path) -> None:
    script = str(DASHBOARDS / "generate.py")
    check = subprocess.run([sys.executable, script, "--check"], capture_output=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    written = subprocess.run(
        [sys.executable, script, "--output", str(tmp_path)], capture_output=True, check=False
    )
    assert written.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(generate.DASHBOARDS)
    stale = tmp_path / "llm-monitor-self.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("Event loop", "Loop"))
    rerun = [sys.executable, script, "--check", "--output", str(tmp_path)]
    failed = subprocess.run(rerun, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert "llm-monitor-self.json" in failed.stdout


# --- what every panel must have ----------------------------------------------------------------


def test_every_panel_has_a_unit_and_a_short_description() -> None:
    for name, panel in _panels():
        if panel["type"] == "row":
            continue
        where = f"{name}: {panel['title']}"
        assert panel["fieldConfig"]["defaults"]["unit"], where
        if panel["type"] == "heatmap":
            assert panel["options"]["yAxis"]["unit"], where
        description = panel["description"]
        assert 20 <= len(description) <= 250, where
        assert description.endswith("."), where


def test_every_range_in_a_query_is_the_rate_interval() -> None:
    ranged = 0
    for name, title, expr in _raw_exprs():
        if re.search(r"\b(rate|irate|increase|delta|\w+_over_time)\(", expr):
            ranged += 1
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert window == "$__rate_interval", f"{name}: {title}: {expr}"
    assert ranged >= 10


def test_every_query_goes_through_the_datasource_variable() -> None:
    for name, panel in _panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == generate.DS, f"{name}: {panel['title']}"
        for query in panel["targets"]:
            assert query["datasource"] == generate.DS, f"{name}: {panel['title']}"


def test_panels_fit_the_grid_without_overlapping() -> None:
    for name, board in _boards().items():
        cells: dict[tuple[int, int], int] = {}
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids), name
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']}"
            for x, y in itertools.product(
                range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
            ):
                assert (x, y) not in cells, f"{name}: {panel['title']} overlaps {cells[x, y]}"
                cells[x, y] = panel["id"]


def test_template_variables_are_chained_and_default_to_the_provisioned_source() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources.yaml").read_text(encoding="utf-8"))
    (source,) = datasources["datasources"]
    assert (source["uid"], source["name"], source["type"]) == (
        generate.DATASOURCE_UID,
        generate.DATASOURCE_NAME,
        "prometheus",
    )
    for name, board in _boards().items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["current"]["value"] == source["uid"], name
        if name == "llm-monitor-self.json":
            continue
        assert list(variables) == ["datasource", "model", "provider", "endpoint", "location"], name
        assert "$model" in variables["provider"]["definition"], name
        assert {"$model", "$provider"} <= set(
            re.findall(r"\$\w+", variables["endpoint"]["definition"])
        ), name
        assert "$model" in variables["location"]["definition"], name
    detail = {v["name"]: v for v in _boards()["llm-endpoint-detail.json"]["templating"]["list"]}
    assert detail["endpoint"]["multi"] is False, "the detail dashboard shows one endpoint"


def test_the_model_card_repeats_for_every_selected_model() -> None:
    board = _boards()["llm-model-overview.json"]
    repeated = [panel for panel in board["panels"] if panel.get("repeat")]
    assert [panel["repeat"] for panel in repeated] == ["model"]
    card = [panel["title"] for panel in board["panels"][1:9]]
    assert card == [
        "Average uptime",
        "Best TTFT",
        "Best output speed",
        "Active / configured endpoints",
        "Price per million tokens",
        "Model",
        "Context window",
        "Max output",
    ]
    assert board["panels"][9]["type"] == "row", "the card ends where the next row starts"


# --- the metric names are the registry's -------------------------------------------------------


@pytest.fixture(scope="module")
def registry_labels() -> dict[str, set[str]]:
    """Every sample name the monitor exposes, with its label names, from a fed registry."""
    config = load_config(COMPOSE_CONFIG, resolve_secrets=False)
    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry)
    metrics.declare_endpoints(config.endpoints)
    metrics.observe(make_probe(connection_reused=False))
    metrics.set_clock_offset(0.01)
    collector = LiveCollector()
    registry.register(collector)
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    live = ModelLive(
        model="gpt-4.1-nano",
        window_start=now - timedelta(minutes=30),
        window_end=now,
        refreshed_at=now,
        avg_uptime_ratio=0.999,
        best_ttft_seconds=0.531,
        best_output_tokens_per_second=111.0,
        active_endpoints=2,
        total_endpoints=2,
        available_via=("OpenAI", "Azure"),
        endpoints=(),
    )
    collector.publish(
        LiveState(
            rollups=(make_rollup(),),
            models=config.models,
            profiles=(live,),
            incidents=tuple((e.id, e.provider, e.model.id, False) for e in config.endpoints),
        )
    )
    labels: dict[str, set[str]] = defaultdict(set)
    for family in registry.collect():
        for sample in family.samples:
            labels[sample.name] |= set(sample.labels)
    return dict(labels)


def _metric_names(expr: str) -> set[str]:
    unquoted = re.sub(r'"[^"]*"', '""', expr)
    names = set(re.findall(r"[A-Za-z_:][\w:]*", unquoted))
    return {n for n in names if n.startswith("llm_monitor_") or ":" in n or n == "up"}


def _selectors(expr: str) -> Iterator[tuple[str, str]]:
    """(metric, label name) of every label matcher in a selector."""
    for metric, matchers in re.findall(r"([A-Za-z_:][\w:]*)\{([^}]*)\}", expr):
        for matcher in re.findall(r'(\w+)\s*(?:=~|!~|!=|=)\s*"[^"]*"', matchers):
            yield metric, matcher


def test_every_metric_and_label_the_dashboards_and_rules_use_exists(
    registry_labels: dict[str, set[str]],
) -> None:
    recorded = {name for _, name, _ in _rule_exprs() if ":" in name}
    queries = [(f, t, e) for f, t, e in generate.all_queries()] + _rule_exprs()
    used: set[str] = set()
    for where, title, expr in queries:
        for name in _metric_names(expr):
            used.add(name)
            if ":" in name:
                assert name in recorded, f"{where}: {title}: {name} is not recorded"
            elif name not in PROMETHEUS_SERIES:
                assert name in registry_labels, f"{where}: {title}: no metric {name}"
        for metric, label in _selectors(expr):
            if ":" in metric or metric in PROMETHEUS_SERIES:
                continue
            known = registry_labels[metric] | TARGET_LABELS
            assert label in known, f"{where}: {title}: {metric} has no label {label}"
    # The dashboards show every metric of README's Metrics section, not a part of them.
    shown = {n for _, _, e in generate.all_queries() for n in _metric_names(e)}
    families = {re.sub(r"_(bucket|count|sum|total|created)$", "", n) for n in registry_labels}
    missing = {
        f for f in families if not any(re.sub(r"_(bucket|total)$", "", n) == f for n in shown)
    }
    # Token counts are in the cost; the window's probe count guards LLMModelAllEndpointsDown;
    # a kind's probe count and prompt size stand beside its TTFT (the panel by prompt size).
    assert missing <= {
        "llm_monitor_input_tokens",
        "llm_monitor_output_tokens",
        "llm_monitor_window_probes",
        "llm_monitor_kind_probes",
        "llm_monitor_kind_input_tokens",
    }, "metrics that no panel shows"


# --- the queries run on a real Prometheus ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with urllib.request.urlopen(url, data=body, timeout=10) as response:
            payload: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as error:
        payload = json.load(error)
    return payload


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway Prometheus with the project's rules and no data; yields its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "prometheus is not installed (apt-get install prometheus)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} and {REQUIRE_ENV}=1")
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump({"rule_files": [str(path) for path in RULE_FILES]}), encoding="utf-8"
    )
    port = _free_port()
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (workdir / "prometheus.log").read_text(encoding="utf-8")
                pytest.fail(f"Prometheus did not start:\n{output}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_every_dashboard_query_runs_on_prometheus(prometheus: str) -> None:
    failures = []
    for name, title, expr in generate.all_queries():
        result = _get(f"{prometheus}/api/v1/query", {"query": expr})
        if result["status"] != "success":
            failures.append(f"{name}: {title}: {expr}\n  {result.get('error')}")
    assert not failures, "\n".join(failures)


def test_prometheus_loads_every_rule_group(prometheus: str) -> None:
    groups = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    expected = {
        group["name"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    }
    assert {group["name"] for group in groups} == expected
