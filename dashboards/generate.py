"""The Grafana dashboards of llm-endpoint-monitor, as code.

    python dashboards/generate.py           # write the JSON files beside this script
    python dashboards/generate.py --check   # exit 1 if a committed file differs

Plain Python, standard library only. Output is deterministic (sorted keys, two-space indent, one
trailing newline), so regenerating gives the same bytes. Every PromQL expression the dashboards
run is listed by :func:`all_queries`, with the template variables replaced by values that match
everything, so that tests can run each one against a real Prometheus.

Conventions the tests enforce: every panel has a unit and a description, every ``rate`` and
``increase`` uses ``$__rate_interval``, and every metric exists in ``monitor/metrics/``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent
#: The provisioned data source (provisioning/datasources.yaml) and the variable that picks one.
DATASOURCE_UID = "prometheus"
DATASOURCE_NAME = "Prometheus"
DS: Json = {"type": "prometheus", "uid": "${datasource}"}
TAG = "llm-monitor"
#: What all_queries() puts in place of $__rate_interval (4 x the 15 s scrape interval).
DEFAULT_RATE_INTERVAL = "1m"

TOKENS_PER_SECOND = "suffix: tok/s"
PROBES_PER_MINUTE = "suffix: probes/min"

#: The window families (llm_monitor_window_*) describe an endpoint across locations and come
#: from the agent that holds the rollup lease; they have no location label.
WINDOW_SELECTOR = 'model=~"$model", provider=~"$provider", endpoint=~"$endpoint"'
#: Probe series carry the location of the agent that probed (docs/design.md#agents).
ENDPOINT_SELECTOR = WINDOW_SELECTOR + ', location=~"$location"'
MODEL_SELECTOR = 'model=~"$model"'
INSTANCE_SELECTOR = 'instance=~"$instance"'
DETAIL_LINK: Json = {
    "title": "Endpoint detail",
    "url": (
        "/d/llm-endpoint-detail/llm-endpoint-detail?var-endpoint=${__field.labels.endpoint}"
        "&${datasource:queryparam}&${__url_time_range}"
    ),
}


# --- building blocks ---------------------------------------------------------------------------


def target(expr: str, legend: str = "", *, heatmap: bool = False) -> Json:
    """One Prometheus query of a panel (its refId is set by the panel)."""
    query: Json = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "instant": False,
        "legendFormat": legend or "__auto",
        "range": True,
    }
    if heatmap:
        query["format"] = "heatmap"
    return query


def _panel(kind: str, title: str, description: str, unit: str, targets: Sequence[Json]) -> Json:
    return {
        "datasource": DS,
        "description": description,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {**query, "refId": chr(ord("A") + index)} for index, query in enumerate(targets)
        ],
        "title": title,
        "type": kind,
    }


def _thresholds(*steps: tuple[float | None, str]) -> Json:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in steps],
    }


def stat(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Json],
    *,
    decimals: int | None = None,
    thresholds: Json | None = None,
    mappings: Sequence[Json] = (),
    text_mode: str = "auto",
) -> Json:
    """A single-value panel showing the last value of each series."""
    panel = _panel("stat", title, description, unit, targets)
    defaults = panel["fieldConfig"]["defaults"]
    defaults["color"] = {"mode": "thresholds"}
    defaults["mappings"] = list(mappings)
    defaults["thresholds"] = thresholds or _thresholds((None, "blue"))
    if decimals is not None:
        defaults["decimals"] = decimals
    panel["options"] = {
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showPercentChange": False,
        "textMode": text_mode,
        "wideLayout": True,
    }
    return panel


def timeseries(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[Json],
    *,
    stacked: bool = False,
    max_value: float | None = None,
    links: Sequence[Json] = (),
) -> Json:
    """A graph over time, one line (or stacked area) per series."""
    panel = _panel("timeseries", title, description, unit, targets)
    defaults = panel["fieldConfig"]["defaults"]
    defaults["color"] = {"mode": "palette-classic"}
    defaults["custom"] = {
        "axisSoftMin": 0,
        "drawStyle": "line",
        "fillOpacity": 40 if stacked else 10,
        "lineWidth": 1,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stacked else "none"},
    }
    defaults["links"] = list(links)
    if max_value is not None:
        defaults["max"] = max_value
    panel["options"] = {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel


def heatmap(title: str, description: str, y_unit: str, metric: str) -> Json:
    """A histogram over time from a Prometheus histogram's buckets (probes per minute a cell)."""
    expr = f"60 * sum by (le) (rate({metric}_bucket{{{ENDPOINT_SELECTOR}}}[$__rate_interval]))"
    panel = _panel(
        "heatmap", title, description, PROBES_PER_MINUTE, [target(expr, "{{le}}", heatmap=True)]
    )
    panel["options"] = {
        "calculate": False,
        "cellGap": 1,
        "cellValues": {"unit": PROBES_PER_MINUTE},
        "color": {
            "exponent": 0.5,
            "fill": "dark-orange",
            "mode": "scheme",
            "reverse": False,
            "scale": "exponential",
            "scheme": "Oranges",
            "steps": 64,
        },
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-9},
        "legend": {"show": True},
        "rowsFrame": {"layout": "auto"},
        "selectionMode": "x",
        "showValue": "never",
        "tooltip": {"mode": "single", "yHistogram": True},
        "yAxis": {"axisPlacement": "left", "reverse": False, "unit": y_unit},
    }
    return panel


def piechart(title: str, description: str, unit: str, targets: Sequence[Json]) -> Json:
    """Shares of a whole: each series' mean over the time range."""
    panel = _panel("piechart", title, description, unit, targets)
    panel["fieldConfig"]["defaults"]["color"] = {"mode": "palette-classic"}
    panel["options"] = {
        "displayLabels": ["percent"],
        "legend": {
            "displayMode": "table",
            "placement": "right",
            "showLegend": True,
            "values": ["percent"],
        },
        "pieType": "donut",
        "reduceOptions": {"calcs": ["mean"], "fields": "", "values": False},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel


def row(title: str, *, repeat: str | None = None) -> Json:
    """A full-width row header; with ``repeat`` it and its panels repeat per variable value."""
    header: Json = {"collapsed": False, "panels": [], "title": title, "type": "row"}
    if repeat:
        header["repeat"] = repeat
    return header


def layout(items: Sequence[tuple[Json, int, int]]) -> list[Json]:
    """Place (panel, width, height) items left to right on Grafana's 24-column grid."""
    placed: list[Json] = []
    x = y = line_height = 0
    for number, (panel, width, height) in enumerate(items, start=1):
        if panel["type"] == "row" or x + width > 24:
            x, y, line_height = 0, y + line_height, 0
        placed.append({**panel, "gridPos": {"h": height, "w": width, "x": x, "y": y}, "id": number})
        x, line_height = x + width, max(line_height, height)
        if panel["type"] == "row":
            x, y, line_height = 0, y + height, 0
    return placed


def datasource_variable() -> Json:
    """The data source picker every dashboard's queries go through."""
    return {
        "current": {"selected": False, "text": DATASOURCE_NAME, "value": DATASOURCE_UID},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def query_variable(name: str, label: str, query: str, *, allow_all: bool = True) -> Json:
    """A variable whose values are a label's values (``label_values(selector, label)``)."""
    variable: Json = {
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if allow_all else {},
        "datasource": DS,
        "definition": query,
        "hide": 0,
        "includeAll": allow_all,
        "label": label,
        "multi": allow_all,
        "name": name,
        "options": [],
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }
    if allow_all:
        variable["allValue"] = ".*"
    return variable


def endpoint_variables(*, single_endpoint: bool = False) -> list[Json]:
    """Model, then provider of that model, then endpoint of both (chained)."""
    return [
        query_variable("model", "Model", "label_values(llm_monitor_endpoint_info, model)"),
        query_variable(
            "provider",
            "Provider",
            'label_values(llm_monitor_endpoint_info{model=~"$model"}, provider)',
        ),
        query_variable(
            "endpoint",
            "Endpoint",
            'label_values(llm_monitor_endpoint_info{model=~"$model", provider=~"$provider"}, '
            "endpoint)",
            allow_all=not single_endpoint,
        ),
        query_variable(
            "location",
            "Location",
            'label_values(llm_monitor_endpoint_info{model=~"$model"}, location)',
        ),
    ]


def dashboard(
    uid: str, title: str, description: str, variables: Sequence[Json], panels: list[Json]
) -> Json:
    """A whole dashboard in the JSON model that Grafana 10 and 11 import and provision."""
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": False,
                "keepTime": True,
                "tags": [TAG],
                "targetBlank": False,
                "title": "LLM monitor dashboards",
                "type": "dashboards",
            }
        ],
        "panels": panels,
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": [TAG],
        "templating": {"list": [datasource_variable(), *variables]},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def quantile(q: float, metric: str, by: str, selector: str) -> str:
    """A quantile over $__rate_interval from a histogram's buckets."""
    return (
        f"histogram_quantile({q}, sum by ({by}, le) "
        f"(rate({metric}_bucket{{{selector}}}[$__rate_interval])))"
    )


# --- the dashboards ----------------------------------------------------------------------------


def model_overview() -> Json:
    """Per model the live card of its profile; per endpoint its numbers over time."""
    sel = ENDPOINT_SELECTOR
    ttft = "llm_monitor_time_to_first_token_seconds"
    speed = "llm_monitor_output_tokens_per_second"
    card = [
        (row("$model", repeat="model"), 24, 1),
        (
            stat(
                "Average uptime",
                "Mean uptime of the model's endpoints over the profile's uptime window "
                "(profile.uptime_window, 24h by default).",
                "percentunit",
                [target(f"llm_monitor_model_uptime_ratio{{{MODEL_SELECTOR}}}", "{{model}}")],
                decimals=2,
                thresholds=_thresholds((None, "red"), (0.99, "orange"), (0.995, "green")),
            ),
            4,
            5,
        ),
        (
            stat(
                "Best TTFT",
                "Lowest p50 time to first token among the model's endpoints in the last complete "
                "rollup window.",
                "s",
                [
                    target(
                        f"llm_monitor_model_best_time_to_first_token_seconds{{{MODEL_SELECTOR}}}",
                        "{{model}}",
                    )
                ],
            ),
            4,
            5,
        ),
        (
            stat(
                "Best output speed",
                "Highest p50 output speed (tokens per second after the first chunk) among the "
                "model's endpoints in the last complete rollup window.",
                TOKENS_PER_SECOND,
                [
                    target(
                        f"llm_monitor_model_best_output_tokens_per_second{{{MODEL_SELECTOR}}}",
                        "{{model}}",
                    )
                ],
                decimals=0,
            ),
            4,
            5,
        ),
        (
            stat(
                "Active / configured endpoints",
                "Endpoints with a successful probe in the last complete rollup window, and "
                "endpoints configured for the model.",
                "none",
                [
                    target(f"llm_monitor_model_endpoints_active{{{MODEL_SELECTOR}}}", "active"),
                    target(f"llm_monitor_model_endpoints{{{MODEL_SELECTOR}}}", "configured"),
                ],
                decimals=0,
                text_mode="value_and_name",
            ),
            4,
            5,
        ),
        (
            stat(
                "Price per million tokens",
                "The model's configured price in USD per million input and output tokens.",
                "currencyUSD",
                [
                    target(
                        f"llm_monitor_model_price_usd_per_million_tokens{{{MODEL_SELECTOR}}}",
                        "{{token_type}}",
                    )
                ],
                decimals=3,
                text_mode="value_and_name",
            ),
            8,
            5,
        ),
        (
            stat(
                "Model",
                "The model's configured name, creator, release date and modality.",
                "none",
                [
                    target(
                        f"llm_monitor_model_info{{{MODEL_SELECTOR}}}",
                        "{{name}} · {{creator}} · released {{release_date}} · {{modality}}",
                    )
                ],
                text_mode="name",
            ),
            12,
            3,
        ),
        (
            stat(
                "Context window",
                "The model's context window in tokens, as configured.",
                "suffix: tokens",
                [target(f"llm_monitor_model_context_window_tokens{{{MODEL_SELECTOR}}}")],
                decimals=0,
            ),
            6,
            3,
        ),
        (
            stat(
                "Max output",
                "The most tokens the model generates in one response, as configured.",
                "suffix: tokens",
                [target(f"llm_monitor_model_max_output_tokens{{{MODEL_SELECTOR}}}")],
                decimals=0,
            ),
            6,
            3,
        ),
    ]
    endpoints = [
        (row("Endpoints over time"), 24, 1),
        (
            timeseries(
                "Time to first token p50 / p95",
                "Request start to the first content chunk, per endpoint: the median and the "
                "95th percentile of successful probes, from the histogram.",
                "s",
                [
                    target(quantile(0.5, ttft, "endpoint", sel), "{{endpoint}} p50"),
                    target(quantile(0.95, ttft, "endpoint", sel), "{{endpoint}} p95"),
                ],
                links=[DETAIL_LINK],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Output speed p50",
                "Median output speed (tokens per second after the first chunk) of successful "
                "probes, per endpoint.",
                TOKENS_PER_SECOND,
                [target(quantile(0.5, speed, "endpoint", sel), "{{endpoint}}")],
                links=[DETAIL_LINK],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Uptime per rollup window",
                "Successes over counted probes in each complete rollup window (30 minutes by "
                "default); configuration errors are not counted.",
                "percentunit",
                [target(f"llm_monitor_window_uptime_ratio{{{WINDOW_SELECTOR}}}", "{{endpoint}}")],
                max_value=1,
                links=[DETAIL_LINK],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Probes by outcome",
                "Finished probes per minute, per endpoint and outcome, stacked.",
                PROBES_PER_MINUTE,
                [
                    target(
                        "60 * sum by (endpoint, outcome) "
                        f"(rate(llm_monitor_probes_total{{{sel}}}[$__rate_interval]))",
                        "{{endpoint}} {{outcome}}",
                    )
                ],
                stacked=True,
                links=[DETAIL_LINK],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Time to first token p50 by location",
                "Median TTFT of successful probes per endpoint and per location the agents "
                "probe from: a slow location next to fast ones points at the network between.",
                "s",
                [
                    target(
                        quantile(0.5, ttft, "endpoint, location", sel),
                        "{{endpoint}} from {{location}}",
                    )
                ],
                links=[DETAIL_LINK],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Probe success by location",
                "Successful probes over finished probes per endpoint and location: one location "
                "failing alone is that location's trouble (the window uptime judges across "
                "locations by quorum).",
                "percentunit",
                [
                    target(
                        "sum by (endpoint, location) (rate(llm_monitor_probes_total"
                        f'{{{sel}, outcome="success"}}[$__rate_interval])) / '
                        "sum by (endpoint, location) (rate(llm_monitor_probes_total"
                        f"{{{sel}}}[$__rate_interval]))",
                        "{{endpoint}} from {{location}}",
                    )
                ],
                max_value=1,
                links=[DETAIL_LINK],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Probe cost per day",
                "What the probes cost at the current rate, in USD per day, from their token "
                "usage and the model's pricing.",
                "currencyUSD",
                [
                    target(
                        "86400 * sum by (endpoint) "
                        f"(rate(llm_monitor_probe_cost_usd_total{{{sel}}}[$__rate_interval]))",
                        "{{endpoint}}",
                    )
                ],
                stacked=True,
            ),
            24,
            7,
        ),
    ]
    return dashboard(
        "llm-model-overview",
        "LLM monitor / Model overview",
        "Each model's live profile card and its endpoints' TTFT, output speed and uptime.",
        endpoint_variables(),
        layout(card + endpoints),
    )


def endpoint_detail() -> Json:
    """One endpoint: distributions, latency, outcomes and the freshness of its probes."""
    sel = ENDPOINT_SELECTOR
    wsel = WINDOW_SELECTOR
    success_mappings = [
        {
            "options": {
                "0": {"color": "red", "index": 1, "text": "failed"},
                "1": {"color": "green", "index": 0, "text": "success"},
            },
            "type": "value",
        }
    ]
    duration = "llm_monitor_request_duration_seconds"
    connect = "llm_monitor_connect_seconds"
    ttft = "llm_monitor_time_to_first_token_seconds"
    answer = "llm_monitor_time_to_first_answer_token_seconds"
    items = [
        (row("$endpoint now"), 24, 1),
        (
            stat(
                "Last probe",
                "Whether the endpoint's last finished probe succeeded.",
                "none",
                [target(f"llm_monitor_probe_success{{{sel}}}", "{{endpoint}}")],
                mappings=success_mappings,
                thresholds=_thresholds((None, "red"), (1, "green")),
            ),
            3,
            4,
        ),
        (
            stat(
                "Incident",
                "Whether the monitor has an open incident for the endpoint: opened after "
                "incidents.open_after probe intervals in a row were down (a quorum of "
                "locations' when several probe it), closed after incidents.close_after good "
                "ones (see /api/v1/incidents).",
                "none",
                [
                    target(
                        f"max by (endpoint) (llm_monitor_endpoint_incident_open{{{wsel}}})",
                        "{{endpoint}}",
                    )
                ],
                mappings=[
                    {
                        "options": {
                            "0": {"color": "green", "index": 0, "text": "none"},
                            "1": {"color": "red", "index": 1, "text": "open"},
                        },
                        "type": "value",
                    }
                ],
                thresholds=_thresholds((None, "green"), (1, "red")),
            ),
            3,
            4,
        ),
        (
            stat(
                "Last probe age",
                "Seconds since the last finished probe started; much more than the probe "
                "interval means the monitor has stopped probing this endpoint.",
                "s",
                [
                    target(
                        f"time() - llm_monitor_last_probe_timestamp_seconds{{{sel}}}",
                        "{{endpoint}}",
                    )
                ],
                decimals=0,
                thresholds=_thresholds((None, "green"), (300, "orange"), (600, "red")),
            ),
            3,
            4,
        ),
        (
            stat(
                "Uptime, last window",
                "Uptime in the last complete rollup window.",
                "percentunit",
                [target(f"llm_monitor_window_uptime_ratio{{{WINDOW_SELECTOR}}}", "{{endpoint}}")],
                decimals=2,
                thresholds=_thresholds((None, "red"), (0.99, "orange"), (0.995, "green")),
            ),
            4,
            4,
        ),
        (
            stat(
                "TTFT p50 / p95, last window",
                "Exact time-to-first-token quantiles of the successful probes of the last "
                "complete rollup window (from the stored probes, not the histogram).",
                "s",
                [
                    target(
                        f'llm_monitor_window_time_to_first_token_seconds{{{wsel}, quantile="0.5"}}',
                        "p50",
                    ),
                    target(
                        "llm_monitor_window_time_to_first_token_seconds"
                        f'{{{wsel}, quantile="0.95"}}',
                        "p95",
                    ),
                ],
                text_mode="value_and_name",
            ),
            4,
            4,
        ),
        (
            stat(
                "Output speed p50, last window",
                "Exact median output speed of the successful probes of the last complete "
                "rollup window.",
                TOKENS_PER_SECOND,
                [
                    target(
                        f'llm_monitor_window_output_tokens_per_second{{{wsel}, quantile="0.5"}}',
                        "{{endpoint}}",
                    )
                ],
                decimals=0,
            ),
            4,
            4,
        ),
        (
            stat(
                "Endpoint",
                "The endpoint's provider, region, Azure deployment and API version.",
                "none",
                [
                    target(
                        f"llm_monitor_endpoint_info{{{sel}}}",
                        "{{provider}} {{region}} {{deployment}} {{api_version}}",
                    )
                ],
                text_mode="name",
            ),
            3,
            4,
        ),
        (row("Latency"), 24, 1),
        (
            heatmap(
                "Time to first token distribution",
                "Successful probes per minute in each TTFT bucket of the histogram.",
                "s",
                "llm_monitor_time_to_first_token_seconds",
            ),
            12,
            9,
        ),
        (
            heatmap(
                "Output speed distribution",
                "Successful probes per minute in each output-speed bucket of the histogram.",
                TOKENS_PER_SECOND,
                "llm_monitor_output_tokens_per_second",
            ),
            12,
            9,
        ),
        (
            timeseries(
                "End-to-end latency p50 / p95",
                "Request start to the end of the stream, for every probe that got a response.",
                "s",
                [
                    target(quantile(0.5, duration, "endpoint", sel), "p50"),
                    target(quantile(0.95, duration, "endpoint", sel), "p95"),
                ],
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Connect time p50 / p95",
                "TCP and TLS setup of probes that opened a new connection (not part of TTFT).",
                "s",
                [
                    target(quantile(0.5, connect, "endpoint", sel), "p50"),
                    target(quantile(0.95, connect, "endpoint", sel), "p95"),
                ],
            ),
            8,
            8,
        ),
        (
            timeseries(
                "Last probe age",
                "Seconds since the last finished probe started; it saws between 0 and the "
                "probe interval while the endpoint is probed.",
                "s",
                [
                    target(
                        f"time() - llm_monitor_last_probe_timestamp_seconds{{{sel}}}",
                        "{{endpoint}}",
                    )
                ],
            ),
            8,
            8,
        ),
        (
            timeseries(
                "First token and first answer token p50 / p95",
                "Request start to the first token of any kind (TTFT) and to the first token of "
                "the answer itself (after any streamed reasoning), of successful probes. The two "
                "are one line for a model that streams no reasoning.",
                "s",
                [
                    target(quantile(0.5, ttft, "endpoint", sel), "TTFT p50"),
                    target(quantile(0.95, ttft, "endpoint", sel), "TTFT p95"),
                    target(quantile(0.5, answer, "endpoint", sel), "answer TTFT p50"),
                    target(quantile(0.95, answer, "endpoint", sel), "answer TTFT p95"),
                ],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "TTFT p50 by prompt size",
                "TTFT of each probe kind (docs/design.md#probe-kinds): short is the plain "
                "prompt, the others are prompts of their input_tokens. Empty without kinds.",
                "s",
                [
                    target(
                        quantile(0.5, "llm_monitor_kind_time_to_first_token_seconds", "kind", sel),
                        "{{kind}}",
                    )
                ],
            ),
            12,
            8,
        ),
        (row("Outcomes"), 24, 1),
        (
            timeseries(
                "Probes by outcome",
                "Finished probes per minute by outcome, stacked.",
                PROBES_PER_MINUTE,
                [
                    target(
                        "60 * sum by (outcome) "
                        f"(rate(llm_monitor_probes_total{{{sel}}}[$__rate_interval]))",
                        "{{outcome}}",
                    )
                ],
                stacked=True,
            ),
            10,
            8,
        ),
        (
            piechart(
                "Error mix",
                "Shares of the failure outcomes over the time range (every outcome but success).",
                PROBES_PER_MINUTE,
                [
                    target(
                        "60 * sum by (outcome) (rate(llm_monitor_probes_total"
                        f'{{{sel}, outcome!="success"}}[$__rate_interval]))',
                        "{{outcome}}",
                    )
                ],
            ),
            6,
            8,
        ),
        (
            timeseries(
                "Uptime per rollup window",
                "Successes over counted probes in each complete rollup window.",
                "percentunit",
                [target(f"llm_monitor_window_uptime_ratio{{{WINDOW_SELECTOR}}}", "{{endpoint}}")],
                max_value=1,
            ),
            8,
            8,
        ),
    ]
    return dashboard(
        "llm-endpoint-detail",
        "LLM monitor / Endpoint detail",
        "One endpoint: TTFT and speed distributions, latency, outcomes and probe freshness.",
        endpoint_variables(single_endpoint=True),
        layout(items),
    )


def monitor_self() -> Json:
    """The monitor's own health: is it probing on time, storing, and configured."""
    sel = INSTANCE_SELECTOR
    ok_mappings = [
        {
            "options": {
                "0": {"color": "red", "index": 1, "text": "failed"},
                "1": {"color": "green", "index": 0, "text": "ok"},
            },
            "type": "value",
        }
    ]
    items = [
        (row("Status"), 24, 1),
        (
            stat(
                "Version",
                "The llm-monitor version each instance runs.",
                "none",
                [target(f"llm_monitor_build_info{{{sel}}}", "{{instance}} {{version}}")],
                text_mode="name",
            ),
            6,
            4,
        ),
        (
            stat(
                "Config reload",
                "Whether the last configuration (re)load succeeded; after a failure the monitor "
                "keeps the configuration it had.",
                "none",
                [target(f"llm_monitor_config_last_reload_success{{{sel}}}", "{{instance}}")],
                mappings=ok_mappings,
                thresholds=_thresholds((None, "red"), (1, "green")),
            ),
            6,
            4,
        ),
        (
            stat(
                "Event loop lag",
                "How late the probing event loop last ran a timer; lag inflates TTFT and speed.",
                "s",
                [target(f"llm_monitor_event_loop_lag_seconds{{{sel}}}", "{{instance}}")],
                thresholds=_thresholds((None, "green"), (0.01, "orange"), (0.05, "red")),
            ),
            6,
            4,
        ),
        (
            stat(
                "Storage errors since start",
                "Failed reads and writes of the store since the process started.",
                "short",
                [target(f"llm_monitor_storage_errors_total{{{sel}}}", "{{instance}}")],
                decimals=0,
                thresholds=_thresholds((None, "green"), (1, "orange")),
            ),
            6,
            4,
        ),
        (
            stat(
                "Rollup leader",
                "Which agent holds the rollup lease: it alone rolls windows up and exports the "
                "window and model families. Exactly one agent should show 1.",
                "none",
                [target(f"llm_monitor_rollup_leader{{{sel}}}", "{{agent}} ({{location}})")],
                text_mode="value_and_name",
                thresholds=_thresholds((None, "text"), (1, "green")),
            ),
            12,
            4,
        ),
        (
            stat(
                "Clock offset from the store",
                "Each agent's clock minus the shared store's, at its last heartbeat. Windows are "
                "wall-clock UTC: beyond 5 s the agent gives up the rollup lease.",
                "s",
                [target(f"llm_monitor_clock_offset_seconds{{{sel}}}", "{{agent}} ({{location}})")],
                text_mode="value_and_name",
                thresholds=_thresholds((None, "green"), (1, "orange"), (5, "red")),
            ),
            12,
            4,
        ),
        (
            stat(
                "Probe budget",
                "Whether the probes' spend of the last 24 h has reached probe.budget_usd_per_day:"
                " while it has, every interval is 16 times longer.",
                "none",
                [target(f"llm_monitor_budget_exhausted{{{sel}}}", "{{instance}}")],
                mappings=[
                    {
                        "options": {
                            "0": {"color": "green", "index": 0, "text": "within budget"},
                            "1": {"color": "red", "index": 1, "text": "exhausted: stretched"},
                        },
                        "type": "value",
                    }
                ],
                thresholds=_thresholds((None, "green"), (1, "red")),
            ),
            12,
            4,
        ),
        (
            stat(
                "Kernel arrival stamps",
                "Share of recent probes timed by the kernel's receive stamps, which a late "
                "process cannot delay. Below 100 %, some used the time the process read the "
                "bytes: their TTFT includes its lateness.",
                "percentunit",
                [
                    target(
                        "sum by (instance) (increase(llm_monitor_probe_stamps_total"
                        f'{{{sel}, stamp_source="kernel"}}[$__rate_interval])) / sum by (instance) '
                        f"(increase(llm_monitor_probe_stamps_total{{{sel}}}[$__rate_interval]))",
                        "{{instance}}",
                    )
                ],
                thresholds=_thresholds((None, "orange"), (0.999, "green")),
            ),
            12,
            4,
        ),
        (row("Over time"), 24, 1),
        (
            timeseries(
                "Event loop lag",
                "How late the probing event loop ran its timers, per instance.",
                "s",
                [target(f"llm_monitor_event_loop_lag_seconds{{{sel}}}", "{{instance}}")],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Probe rate",
                "Finished probes per minute, per endpoint: one per interval when on schedule.",
                PROBES_PER_MINUTE,
                [
                    target(
                        "60 * sum by (endpoint) "
                        f"(rate(llm_monitor_probes_total{{{sel}}}[$__rate_interval]))",
                        "{{endpoint}}",
                    )
                ],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Missed runs",
                "Scheduled probes per minute that did not run on time (coalesced or skipped), "
                "per endpoint.",
                "suffix: runs/min",
                [
                    target(
                        "60 * sum by (endpoint) (rate(llm_monitor_scheduler_missed_runs_total"
                        f"{{{sel}}}[$__rate_interval]))",
                        "{{endpoint}}",
                    )
                ],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Skipped probes",
                "Scheduled probes per minute not sent, per endpoint and reason (retry_after: a "
                "429 asked to wait); they count neither for nor against uptime.",
                "suffix: runs/min",
                [
                    target(
                        "60 * sum by (endpoint, reason) (rate(llm_monitor_probes_skipped_total"
                        f"{{{sel}}}[$__rate_interval]))",
                        "{{endpoint}} {{reason}}",
                    )
                ],
            ),
            12,
            8,
        ),
        (
            timeseries(
                "Scheduling delay",
                "How late scheduled probes started (actual minus planned start, jitter "
                "excluded): p50 and p99 over all endpoints. Growing values mean the measuring "
                "loop is overloaded.",
                "s",
                [
                    target(
                        f"histogram_quantile({q}, sum by (le) (rate("
                        f"llm_monitor_scheduler_delay_seconds_bucket{{{sel}}}[$__rate_interval])))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.99)
                ],
            ),
            24,
            8,
        ),
        (
            timeseries(
                "Storage errors",
                "Failed reads and writes of the store per minute, per instance.",
                "suffix: errors/min",
                [
                    target(
                        "60 * sum by (instance) (rate(llm_monitor_storage_errors_total"
                        f"{{{sel}}}[$__rate_interval]))",
                        "{{instance}}",
                    )
                ],
            ),
            24,
            8,
        ),
    ]
    instance = query_variable(
        "instance", "Instance", "label_values(llm_monitor_build_info, instance)"
    )
    return dashboard(
        "llm-monitor-self",
        "LLM monitor / The monitor itself",
        "The health of llm-monitor: event-loop lag, missed and skipped runs, storage errors, "
        "probe rate, version and configuration reloads.",
        [instance],
        layout(items),
    )


#: File name -> builder, in the order the dashboards are listed.
DASHBOARDS: dict[str, Callable[[], Json]] = {
    "llm-model-overview.json": model_overview,
    "llm-endpoint-detail.json": endpoint_detail,
    "llm-monitor-self.json": monitor_self,
}


# --- output and the query list -----------------------------------------------------------------


def render(board: Json) -> str:
    """The dashboard's JSON text, byte-stable across runs."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def panels_of(board: Json) -> Iterator[Json]:
    """Every panel of a dashboard, including those nested in collapsed rows."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def substitute(expr: str, rate_interval: str = DEFAULT_RATE_INTERVAL) -> str:
    """Replace Grafana variables: $__rate_interval by a duration, the others by ``.*``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return rate_interval if name == "__rate_interval" else ".*"

    return _VARIABLE.sub(value, expr)


_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*\w+\)$")


def all_queries(rate_interval: str = DEFAULT_RATE_INTERVAL) -> list[tuple[str, str, str]]:
    """(dashboard file, panel title or ``variable NAME``, PromQL) for every query, runnable."""
    out: list[tuple[str, str, str]] = []
    for name, build in DASHBOARDS.items():
        board = build()
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = _LABEL_VALUES.match(variable["definition"])
            if match is None:
                raise ValueError(f"{name}: unexpected variable query {variable['definition']!r}")
            selector = substitute(match["selector"], rate_interval)
            out.append((name, f"variable {variable['name']}", selector))
        for panel in panels_of(board):
            for query in panel.get("targets", []):
                out.append((name, panel["title"], substitute(query["expr"], rate_interval)))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dashboards, or with --check report the ones that differ and return 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a committed dashboard differs"
    )
    parser.add_argument("--output", type=Path, default=HERE, help="directory of the JSON files")
    args = parser.parse_args(argv)
    stale = 0
    for name, build in DASHBOARDS.items():
        path = args.output / name
        text = render(build())
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale += 1
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{path} (committed)",
                f"{path} (generated)",
                n=1,
            )
            sys.stdout.writelines(list(diff)[:40])
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"{stale} dashboard(s) differ: run python dashboards/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
