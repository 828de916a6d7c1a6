"""The OpenAPI 3.1 document of the HTTP API (``GET /openapi.json``).

Written by hand from the same field lists the handlers use, so that it says exactly what the
responses hold (``additionalProperties: false`` wherever the shape is fixed): a test validates
every response against it, and the reliability tests fuzz every route from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, get_args, get_type_hints

from monitor.config import ModelSpec
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.timeparse import TIME_SCHEMA, WINDOW_PATTERN

_REF = "#/components/schemas/"
_TIME = {"type": "string", "format": "date-time"}
_OUTCOME_NAMES = [o.value for o in Outcome]
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_STATES = ["up", "degraded", "down", "unknown"]
_PROVIDERS = ["openai", "azure", "openai_compatible"]
_ERROR_CODES = (
    "not_found", "method_not_allowed", "invalid_parameter", "store_unavailable",
    "internal_error", "http_error", "unauthorized",
)  # fmt: skip


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    return {**schema, "type": [kind, "null"]}


def _object(properties: dict[str, Any], *, optional: Sequence[str] = ()) -> dict[str, Any]:
    """A fixed-shape object whose properties are all required unless named in ``optional``."""
    return {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
        "additionalProperties": False,
    }


def _json_schema_of(annotation: Any) -> dict[str, Any]:
    """The JSON schema of one ``ProbeResult`` field type (str, int, float, bool, datetime,
    Outcome, each optionally ``| None``)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    nullable = bool(get_args(annotation)) and len(args) < len(get_args(annotation))
    base = args[0] if nullable else annotation
    simple: dict[Any, dict[str, Any]] = {
        str: {"type": "string"},
        int: {"type": "integer"},
        float: {"type": "number"},
        bool: {"type": "boolean"},
        datetime: dict(_TIME),
        Outcome: {"type": "string", "enum": _OUTCOME_NAMES},
    }
    schema = dict(simple[base])
    return _null(schema) if nullable else schema


#: What the two durations of a probe mean; a reader could take either for the other.
_PROBE_FIELD_DESCRIPTIONS = {
    "total_seconds": (
        "End-to-end latency: from the request's first byte written to the end of the stream;"
        " null when the stream had no end (timeout, failed connection)."
    ),
    "duration_seconds": (
        "How long the probe ran, whatever its outcome: from the moment it was started (before"
        " the credential, the connection and the request) to the moment its result was made,"
        " on the monotonic clock. A timed-out probe's duration is about its timeout. Null for"
        " probes stored before this field existed."
    ),
}


def _probe_result_schema() -> dict[str, Any]:
    hints = get_type_hints(ProbeResult)
    properties = {f.name: _json_schema_of(hints[f.name]) for f in fields(ProbeResult)}
    for name, description in _PROBE_FIELD_DESCRIPTIONS.items():
        properties[name]["description"] = description
    properties["ok"] = {"type": "boolean"}
    return _object(properties)


def _model_fact_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """The properties of a model's facts and the schemas they refer to (from the config)."""
    schema = ModelSpec.model_json_schema(mode="serialization", ref_template=_REF + "{model}")
    definitions: dict[str, Any] = schema.get("$defs", {})
    # model_dump writes every field, so each one is always present.
    return dict(schema["properties"]), definitions


def _distribution_schema() -> dict[str, Any]:
    number = _null({"type": "number"})
    return _object(
        {
            "count": {"type": "integer", "minimum": 0},
            **dict.fromkeys(("p50", "p90", "p95", "p99", "min", "max", "mean"), number),
        }
    )


def _schemas() -> dict[str, Any]:
    facts, definitions = _model_fact_schemas()
    number = _null({"type": "number"})
    text = _null({"type": "string"})
    endpoint_live = _object(
        {
            "endpoint": {"type": "string"},
            "provider": {"type": "string", "enum": _PROVIDERS},
            "region": text,
            "uptime_ratio": number,
            "ttft_p50_seconds": number,
            "ttft_p95_seconds": number,
            "output_tokens_per_second_p50": number,
            # null: no probe was stored in the last complete window (no data, not 0 probes)
            "probes": _null({"type": "integer", "minimum": 0}),
            "failures_by_outcome": _COUNTS,
            "last_probe_at": _null(_TIME),
            "status": {"type": "string", "enum": _STATES},
        }
    )
    live = _object(
        {
            "window_start": _null(_TIME),
            "window_end": _null(_TIME),
            "refreshed_at": _null(_TIME),
            "avg_uptime_ratio": number,
            "best_ttft_seconds": number,
            "best_output_tokens_per_second": number,
            "active_endpoints": {"type": "integer", "minimum": 0},
            "total_endpoints": {"type": "integer", "minimum": 0},
            "available_via": {"type": "array", "items": {"type": "string"}},
            "endpoints": {"type": "array", "items": _ref("EndpointLive")},
        }
    )
    last_window = _object(
        {
            "window_start": _TIME,
            "window_end": _TIME,
            "probes": {"type": "integer", "minimum": 0},
            "successes": {"type": "integer", "minimum": 0},
            "uptime_ratio": number,
            "ttft_p50_seconds": number,
            "ttft_p95_seconds": number,
            "output_tokens_per_second_p50": number,
            "failures_by_outcome": _COUNTS,
            "status": {"type": "string", "enum": _STATES},
        }
    )
    endpoint = _object(
        {
            "id": {"type": "string"},
            "model": {"type": "string"},
            "provider": {"type": "string", "enum": _PROVIDERS},
            "provider_name": {"type": "string"},
            "api": {"type": "string", "enum": ["chat_completions", "responses"]},
            "region": text,
            "deployment": text,
            "api_version": text,
            "interval_seconds": {"type": "number"},
            "timeout_seconds": {"type": "number"},
            "state": {
                "type": "string",
                "enum": _STATES,
                "description": "From the last window's rollup and a fresh last probe: where "
                "they disagree, degraded.",
            },
            "last_probe": _null(_ref("ProbeResult")),
            "last_window": _null(_ref("LastWindow")),
        }
    )
    rollup = _object(
        {
            "endpoint": {"type": "string"},
            "model": {"type": "string"},
            "provider": {"type": "string"},
            "region": text,
            "window_start": _TIME,
            "window_end": _TIME,
            "window_seconds": {"type": "integer", "minimum": 1},
            "probes": {"type": "integer", "minimum": 0},
            "successes": {"type": "integer", "minimum": 0},
            "outcomes": _COUNTS,
            "failures_by_outcome": _COUNTS,
            "uptime_ratio": number,
            "ttft_seconds": _ref("Distribution"),
            "output_tokens_per_second": _ref("Distribution"),
            "total_seconds": _ref("Distribution"),
            "output_tokens": {"type": "integer", "minimum": 0},
            "input_tokens": {"type": "integer", "minimum": 0},
            "cost_usd": {"type": "number"},
            "computed_at": _TIME,
        }
    )
    report_endpoint = _object(
        {
            "endpoint": {"type": "string"},
            "model": {"type": "string"},
            "provider": {"type": "string", "enum": _PROVIDERS},
            "region": text,
            "probes": {"type": "integer", "minimum": 0},
            "successes": {"type": "integer", "minimum": 0},
            "uptime_ratio": number,
            "ttft_p50_seconds": number,
            "ttft_p95_seconds": number,
            "output_tokens_per_second_p50": number,
            "failures_by_outcome": _COUNTS,
            "output_tokens": {"type": "integer", "minimum": 0},
            "input_tokens": {"type": "integer", "minimum": 0},
            "cost_usd": {"type": "number"},
            "source": {
                "type": "string",
                "enum": ["probes", "rollups"],
                "description": "probes: exact over the range; rollups: raw probes are gone, "
                "counts summed from rollups, percentiles null.",
            },
        }
    )
    error = _object(
        {
            "error": _object(
                {
                    "code": {
                        "type": "string",
                        "enum": list(_ERROR_CODES),
                    },
                    "message": {"type": "string"},
                    "parameter": {"type": "string"},
                },
                optional=("parameter",),
            )
        }
    )
    return {
        **definitions,
        "Error": error,
        "Health": _object({"status": {"type": "string", "enum": ["ok"]}}),
        "Readiness": _object(
            {
                "status": {"type": "string", "enum": ["ok", "not_ready"]},
                "problems": {"type": "array", "items": {"type": "string"}},
            }
        ),
        "ProbeResult": _probe_result_schema(),
        "LastWindow": last_window,
        "Endpoint": endpoint,
        "EndpointList": _object({"endpoints": {"type": "array", "items": _ref("Endpoint")}}),
        "Model": _object(
            {
                **facts,
                "endpoints": {"type": "array", "items": {"type": "string"}},
                "profile_url": {"type": "string"},
            }
        ),
        "ModelList": _object({"models": {"type": "array", "items": _ref("Model")}}),
        "EndpointLive": endpoint_live,
        "Live": live,
        "Profile": _object(
            {
                **facts,
                "refresh_interval_seconds": {"type": "integer", "minimum": 1},
                "live": _ref("Live"),
            }
        ),
        "Distribution": _distribution_schema(),
        "Rollup": rollup,
        "RollupList": _object(
            {
                "window_seconds": {"type": "integer", "minimum": 1},
                "window": {"type": "string"},
                "since": _TIME,
                "until": _TIME,
                "model": text,
                "endpoint": text,
                "count": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1},
                "truncated": {"type": "boolean"},
                "next_since": _null(_TIME),
                "rollups": {"type": "array", "items": _ref("Rollup")},
            }
        ),
        "ReportEndpoint": report_endpoint,
        "ReportModel": _object(
            {
                "model": {"type": "string"},
                "name": text,
                "pricing": _null(_ref("Pricing")),
                "card": {"type": "string"},
                "live": _ref("Live"),
                "endpoints": {
                    "type": "array",
                    "items": _ref("ReportEndpoint"),
                    "description": "The model's endpoints with a probe in the range.",
                },
                "no_data": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The model's endpoints with no probe in the range (no data).",
                },
            }
        ),
        "ReportWindow": _object(
            {
                "window_start": _TIME,
                "window_end": _TIME,
                "endpoints": {
                    "type": "array",
                    "items": _ref("Rollup"),
                    "description": "The stored rollups of the window.",
                },
                "no_data": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The reported endpoints with no rollup in the window: no "
                    "probe of theirs is stored in it (no data, not 0 probes).",
                },
            }
        ),
        "Report": _object(
            {
                "report_version": {"type": "integer", "enum": [1]},
                "generated_at": _TIME,
                "since": _TIME,
                "until": _TIME,
                "window_seconds": {"type": "integer", "minimum": 1},
                "window": {"type": "string"},
                "has_data": {"type": "boolean"},
                "models": {"type": "array", "items": _ref("ReportModel")},
                "windows": {"type": "array", "items": _ref("ReportWindow")},
            }
        ),
    }


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


def openapi_document(version: str, *, max_rollup_rows: int) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, parameter and response."""
    document = _openapi_document(version, max_rollup_rows)
    for path, item in document["paths"].items():
        if path.startswith("/api/"):
            # The token is optional: required only when the server is configured with one.
            item["get"]["security"] = [{"bearer": []}, {}]
            item["get"]["responses"]["401"] = _error(
                "No bearer token, or a wrong one (only when server.api_token_env or "
                "server.api_token_file is set)."
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
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Required on /api/ routes when server.api_token_env or "
                    "server.api_token_file is configured.",
                }
            },
        },
    }
