"""Fuzzing the HTTP API from its own OpenAPI document (schemathesis): every route, with valid and
invalid query and path values (and the configured ids mixed in, so the valid paths are reached
too), answers without a 5xx and exactly as documented: status codes, content types, headers and
bodies against their schemas.

The app is the daemon's own, started over a store that holds an hour of probes, so the routes
answer with real rollups, profiles and reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from monitor.api.app import create_app
from monitor.config import parse_config
from monitor.core.outcomes import Outcome
from monitor.service.daemon import Daemon
from monitor.store import open_store
from tests.store.factories import bare_probe, make_probe

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")
from schemathesis.generation import GenerationMode  # noqa: E402 - after the import check
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

#: Routes with a rule between parameters that a schema cannot state: a schema-valid request can
#: be refused with 422. ``since`` must come before ``until`` in /api/v1/rollups and
#: /api/v1/incidents (``since=now`` or a date in the future breaks it); everything else is still
#: checked there.
CROSS_PARAMETER_RULES = {"GET /api/v1/rollups", "GET /api/v1/incidents"}
ERROR_SCHEMA = "#/components/schemas/Error"

MODEL, ENDPOINT = "gpt-4.1-nano", "azure-eastus"
TOKEN = "fuzz-api-token-0123456789"
#: Cases per route and generation mode: the whole fuzz stays within seconds.
EXAMPLES = 150


@dataclass
class Api:
    schema: Any
    daemon: Daemon
    app: Any


def _daemon(tmp_path: Path, *, token: bool) -> Daemon:
    server = {"api_token_env": "API_TOKEN"} if token else {}
    text = yaml.safe_dump(
        {
            "storage": {"url": f"sqlite:///{tmp_path / 'monitor.db'}"},
            "server": server,
            "rollup": {"window": "5m"},
            # Probes a closed port once an hour: the daemon runs, its probes stay out of the way.
            "probe": {"interval": "1h", "timeout": "1s"},
            "models": [{"id": MODEL, "name": "OpenAI: GPT-4.1 Nano", "context_window": 1047576,
                        "pricing": {"input_per_million": 0.1, "output_per_million": 0.4}}],
            "endpoints": [{"id": ENDPOINT, "model": MODEL, "provider": "azure", "deployment": "d",
                           "base_url": "http://127.0.0.1:9", "api_key_env": "K",
                           "region": "eastus"}],
        }
    )  # fmt: skip
    config = parse_config(text, environ={"K": "fuzz-key", "API_TOKEN": TOKEN})
    store = open_store(config.schema.storage.url)
    store.upgrade()
    now = datetime.now(UTC)
    store.add_probes(
        [make_probe(started_at=now - timedelta(minutes=i)) for i in range(60)]
        + [bare_probe(endpoint=ENDPOINT, provider="azure", api="chat_completions",
                      outcome=Outcome.TIMEOUT, started_at=now - timedelta(minutes=i, seconds=30))
           for i in range(0, 60, 7)]
    )  # fmt: skip
    daemon = Daemon(config, store=store)
    daemon.start()
    return daemon


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = _daemon(tmp_path_factory.mktemp("fuzz"), token=False)
    try:
        app = create_app(daemon)
        yield Api(schemathesis.openapi.from_asgi("/openapi.json", app), daemon, app)
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = _daemon(tmp_path_factory.mktemp("fuzz-token"), token=True)
    try:
        app = create_app(daemon)
        yield Api(schemathesis.openapi.from_asgi("/openapi.json", app), daemon, app)
    finally:
        daemon.stop()


def _with_known_ids(case: Any) -> Any:
    """The case with its model and endpoint values replaced by configured ones."""
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = MODEL
    if case.query:
        if "model" in case.query:
            case.query["model"] = MODEL
        if "endpoint" in case.query:
            case.query["endpoint"] = ENDPOINT
    return case


def _fuzz(api: Api, headers: dict[str, str] | None = None) -> dict[str, dict[int, int]]:
    """Run every operation's cases through all of schemathesis's checks; the status codes seen,
    by operation. Fails listing every operation that broke a check."""
    failures: list[str] = []
    seen: dict[str, dict[int, int]] = {}
    for found in api.schema.get_all_operations():
        operation = found.ok()
        label = operation.label
        cases = st.one_of(
            *(
                strategy
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                for strategy in (
                    operation.as_strategy(generation_mode=mode),
                    operation.as_strategy(generation_mode=mode).map(_with_known_ids),
                )
            )
        )

        check = _checker(cases, label, seen, headers)
        try:
            check()
        except Exception as exc:  # every operation is fuzzed before the test fails
            failures.append(f"{label}: {exc}")
    assert not failures, "\n\n".join(failures)
    return seen


def _checker(
    cases: st.SearchStrategy[Any],
    label: str,
    seen: dict[str, dict[int, int]],
    headers: dict[str, str] | None,
) -> Any:
    @given(case=cases)
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        excluded = [positive_data_acceptance] if label in CROSS_PARAMETER_RULES else []
        response = case.call_and_validate(headers=headers, excluded_checks=excluded)
        by_status = seen.setdefault(label, {})
        by_status[response.status_code] = by_status.get(response.status_code, 0) + 1

    return check


def test_fuzzing_every_route_finds_no_server_error_and_no_schema_violation(api: Api) -> None:
    seen = _fuzz(api)
    documented = {f"GET {path}" for path in api.schema.raw_schema["paths"]}
    # schemathesis leaves out the route it read the document from.
    assert set(seen) == documented - {"GET /openapi.json"}
    # Both the answers and the refusals were reached, and nothing else.
    assert {200, 404} <= set(seen["GET /api/v1/models/{id}/profile"])
    assert {200, 404, 422} <= set(seen["GET /api/v1/rollups"])
    assert {200, 404, 422} <= set(seen["GET /api/v1/incidents"])
    assert all(status < 500 for statuses in seen.values() for status in statuses)


def test_fuzzing_with_the_api_token_finds_nothing_either(guarded_api: Api) -> None:
    seen = _fuzz(guarded_api, headers={"Authorization": f"Bearer {TOKEN}"})
    assert 401 not in {s for statuses in seen.values() for s in statuses}


def test_the_401_of_a_guarded_api_is_documented(guarded_api: Api) -> None:
    # Without the token. Every answer passed all of schemathesis's checks: its status is
    # documented for its route, and its body matches the schema documented for that status.
    seen = _fuzz(guarded_api)
    paths = guarded_api.schema.raw_schema["paths"]
    guarded = {f"GET {path}" for path in paths if path.startswith("/api/")}
    # schemathesis leaves out the route it read the document from (checked below).
    open_routes = {f"GET {path}" for path in paths if not path.startswith("/api/")}
    open_routes -= {"GET /openapi.json"}
    assert len(guarded) >= 5 and open_routes >= {"GET /metrics", "GET /healthz", "GET /readyz"}
    assert set(seen) == guarded | open_routes
    # Every request to the JSON API was refused, valid or not: the token is checked first.
    let_through = {label: sorted(seen[label]) for label in guarded if set(seen[label]) != {401}}
    assert not let_through, let_through
    # ... and the 401 it was validated against is the documented Error body.
    for path, item in paths.items():
        if path.startswith("/api/"):
            content = item["get"]["responses"]["401"]["content"]
            assert content == {"application/json": {"schema": {"$ref": ERROR_SCHEMA}}}, path
    # Metrics, health and the document stay open to scrapers and probes.
    assert all(401 not in seen[label] for label in open_routes), seen
    document = TestClient(guarded_api.app).get("/openapi.json")
    assert document.status_code == 200 and document.json()["paths"] == paths
