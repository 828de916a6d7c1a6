"""The OpenAPI 3.1 document of the HTTP API (``GET /openapi.json``).

The schemas are made from the same classes that serialise the responses (``monitor.core.shape``):
what the document says a response holds is what it holds, field for field, with
``additionalProperties: false`` and every field required. Only the routes, their parameters and
their status codes are written here. A test validates every response against the document, and
the reliability tests fuzz every route from it.
"""

from __future__ import annotations

from typing import Any

from monitor.api.shapes import (
    AgentList,
    EndpointList,
    ErrorBody,
    Health,
    IncidentList,
    ModelList,
    Readiness,
    RollupPage,
)
from monitor.core.shape import schemas
from monitor.core.timeparse import TIME_SCHEMA, WINDOW_PATTERN
from monitor.reports.model import Report
from monitor.service.queries import MAX_INCIDENTS, MAX_ROLLUP_ROWS
from monitor.service.shapes import ModelProfile
from monitor.web.auth import SESSION_COOKIE

_REF = "#/components/schemas/"
#: The names the document has always given some shapes, kept for clients generated from it.
_COMPONENT_NAMES = {
    "ErrorBody": "Error",
    "EndpointState": "Endpoint",
    "ModelEntry": "Model",
    "ModelLive": "Live",
    "ModelProfile": "Profile",
    "EndpointRollup": "Rollup",
    "RollupPage": "RollupList",
    "EndpointSummary": "ReportEndpoint",
}


def component_schemas() -> dict[str, Any]:
    """The schema of every response body and of every shape inside one, by component name."""
    found = schemas(
        [
            ErrorBody,
            Health,
            Readiness,
            EndpointList,
            ModelList,
            ModelProfile,
            RollupPage,
            Report,
            AgentList,
            IncidentList,
        ],
        ref_template=_REF + "{model}",
    )
    renamed = {_COMPONENT_NAMES.get(name, name): schema for name, schema in found.items()}
    result: dict[str, Any] = _with_refs_renamed(renamed)
    return result


def _with_refs_renamed(value: Any) -> Any:
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            name = ref.removeprefix(_REF)
            value = {**value, "$ref": _REF + _COMPONENT_NAMES.get(name, name)}
        return {key: _with_refs_renamed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_refs_renamed(item) for item in value]
    return value


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


_TIME_HELP = (
    "ISO 8601 with Z or an offset (2025-06-01T12:00:00Z), a date (midnight UTC), now, or a "
    "duration before now (30m, 24h, 7d)."
)


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}  # fmt: skip


def _get(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": responses, **extra}}


def openapi_document(version: str, *, max_rollup_rows: int = MAX_ROLLUP_ROWS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, parameter and response."""
    document = _openapi_document(version, max_rollup_rows)
    for path, item in document["paths"].items():
        if path.startswith("/api/"):
            # The token is optional: required only when the server is configured with one.
            item["get"]["security"] = [{"bearer": []}, {"session": []}, {}]
            item["get"]["responses"]["401"] = _error(
                "No bearer token (nor a browser session), or a wrong one (only when "
                "server.api_token_env or server.api_token_file is set)."
            )
    return document


def _openapi_document(version: str, max_rollup_rows: int) -> dict[str, Any]:
    store_down = _error("The store cannot be read.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "llm-endpoint-monitor",
            "version": version,
            "description": "TTFT, output speed and uptime of hosted LLM endpoints: metrics, "
            "model profiles, rollups and reports. Every error is JSON (Error).",
        },
        "paths": {
            "/metrics": _get(
                "Prometheus metrics (OpenMetrics when asked for in Accept).",
                {
                    "200": {
                        "description": "The exposition.",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}},
                        },
                    }
                },
            ),
            "/healthz": _get("Liveness: the process answers.", {"200": _json("Health", "Alive.")}),
            "/readyz": _get(
                "Readiness: store reachable, scheduler running.",
                {
                    "200": _json("Readiness", "Ready."),
                    "503": _json("Readiness", "Not ready; problems says why."),
                },
            ),
            "/api/v1/endpoints": _get(
                "Each configured endpoint: settings, last probe, last window and state.",
                {"200": _json("EndpointList", "The endpoints, in configuration order.")},
            ),
            "/api/v1/models": _get(
                "Each model's facts, endpoints and profile link.",
                {"200": _json("ModelList", "The models, in configuration order.")},
            ),
            "/api/v1/models/{id}/profile": _get(
                "The aggregated model profile: facts plus live numbers (null before the first "
                "rollup).",
                {
                    "200": _json("Profile", "The profile."),
                    "404": _error("Unknown model (or route)."),
                },
                parameters=[
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "description": "Model id.",
                        "schema": {"type": "string"},
                    },
                ],
            ),
            "/api/v1/rollups": _get(
                "Stored rollups whose window starts in [since, until), oldest first, at most "
                f"{max_rollup_rows} (then truncated is true and next_since starts the next page).",
                {
                    "200": _json("RollupList", "The rollups."),
                    "404": _error("Unknown model or endpoint, or no rollups of that window size."),
                    "422": _error("A parameter cannot be used; error.parameter names it."),
                    "503": store_down,
                },
                parameters=[
                    _query("model", "Only this model's endpoints."),
                    _query("endpoint", "Only this endpoint."),
                    _query(
                        "since",
                        f"Start (inclusive), default 24h before until. {_TIME_HELP} It must be "
                        "before until (else 422 naming since), as the report command requires.",
                        TIME_SCHEMA,
                    ),
                    _query("until", f"End (exclusive), default now. {_TIME_HELP}", TIME_SCHEMA),
                    _query(
                        "window",
                        "Window size (1800, 30m, 1h); default the configured rollup window. "
                        "A size that is neither the configured one nor stored is a 404.",
                        {"type": "string", "pattern": f"^{WINDOW_PATTERN}$"},
                    ),
                ],
            ),
            "/api/v1/agents": _get(
                "The agents that share this store: location, last heartbeat, endpoints, and "
                "which one rolls windows up.",
                {
                    "200": _json("AgentList", "The agents, by location then name."),
                    "503": store_down,
                },
            ),
            "/api/v1/incidents": _get(
                "Incidents that overlap [since, until) (started before until, not ended by "
                f"since), newest start first, at most limit (default and most {MAX_INCIDENTS}); "
                "summary counts every one of them.",
                {
                    "200": _json("IncidentList", "The incidents."),
                    "404": _error("Unknown model or endpoint."),
                    "422": _error("A parameter cannot be used; error.parameter names it."),
                    "503": store_down,
                },
                parameters=[
                    _query("model", "Only this model's endpoints."),
                    _query("endpoint", "Only this endpoint."),
                    _query(
                        "since",
                        f"Start (inclusive), default 7 days before until. {_TIME_HELP}",
                        TIME_SCHEMA,
                    ),
                    _query("until", f"End (exclusive), default now. {_TIME_HELP}", TIME_SCHEMA),
                    _query(
                        "open",
                        "true: only open incidents; false: only closed ones.",
                        {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]},
                    ),
                    _query(
                        "limit",
                        f"Most incidents listed, 1 to {MAX_INCIDENTS}.",
                        {"type": "integer", "minimum": 1, "maximum": MAX_INCIDENTS},
                    ),
                ],
            ),
            "/api/v1/reports/latest": _get(
                "The rollup report of the last complete window.",
                {"200": _json("Report", "The report."), "503": store_down},
            ),
            "/openapi.json": _get(
                "This document.",
                {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            ),
        },
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Required on /api/ routes when server.api_token_env or "
                    "server.api_token_file is configured.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": SESSION_COOKIE,
                    "description": "Instead of the bearer token, on GET: the session a browser "
                    "gets by signing in with the token at POST /login (HttpOnly, SameSite=Strict; "
                    "its value is derived from the token, never the token itself).",
                },
            },
        },
    }
