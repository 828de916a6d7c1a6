"""Every metric family the monitor exposes: name, help text, type, label names and buckets.

The names are a contract (dashboards, recording rules and alerts query them; README.md lists
them): change one and you change what users see. Labels are identifiers only, never URLs, keys
or error text. Families appear on ``/metrics`` in the order of ``PROBE_FAMILIES`` then
``LIVE_FAMILIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram", "summary"]

#: The labels that say which endpoint a series belongs to.
ENDPOINT_LABELS = ("endpoint", "provider", "model")
#: A probe series's labels: its endpoint's and the location of the agent that probed it. Each
#: agent exports only its own probes, so summing over every agent counts each probe once.
PROBE_LABELS = (*ENDPOINT_LABELS, "location")

#: Seconds. Alert thresholds (TTFT p95 above 1, 2, 5 s; a 30 s or 60 s timeout) sit on bounds.
LATENCY_BUCKETS = (
    0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0,
    7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
#: Seconds of connection setup (TCP + TLS), much shorter than a completion.
CONNECT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Tokens per second. Speed-drop alerts compare against 10, 20, 50 and 100 tok/s.
SPEED_BUCKETS = (
    5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 75.0, 100.0, 125.0, 150.0, 200.0,
    250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 2000.0,
)  # fmt: skip
#: Seconds a scheduled probe started late.
DELAY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Spec:
    """One metric family. ``name`` is the family name: counters' samples add ``_total``,
    histograms' ``_bucket``/``_count``/``_sum``, summaries' ``_count``/``_sum``. ``buckets`` are
    a histogram's finite upper bounds (``+Inf`` is added)."""

    name: str
    help: str
    kind: Kind
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


# --- per-probe and self-health families (ProbeMetrics) -----------------------------------------

PROBES = Spec(
    "llm_monitor_probes", "Probes finished, by outcome.", "counter", (*PROBE_LABELS, "outcome")
)
PROBE_SUCCESS = Spec(
    "llm_monitor_probe_success", "1 if the last probe succeeded, else 0.", "gauge", PROBE_LABELS
)
LAST_PROBE = Spec(
    "llm_monitor_last_probe_timestamp_seconds",
    "Start time of the last finished probe (Unix seconds).", "gauge", PROBE_LABELS,
)  # fmt: skip
TTFT = Spec(
    "llm_monitor_time_to_first_token_seconds",
    "Time to first token of successful probes.", "histogram", PROBE_LABELS, LATENCY_BUCKETS,
)  # fmt: skip
ANSWER_TTFT = Spec(
    "llm_monitor_time_to_first_answer_token_seconds",
    "Time to the first answer token (after any streamed reasoning) of successful probes.",
    "histogram", PROBE_LABELS, LATENCY_BUCKETS,
)  # fmt: skip
SPEED = Spec(
    "llm_monitor_output_tokens_per_second",
    "Output speed after the first chunk of successful probes.", "histogram", PROBE_LABELS,
    SPEED_BUCKETS,
)  # fmt: skip
DURATION = Spec(
    "llm_monitor_request_duration_seconds",
    "End-to-end latency of probes (request start to end of stream).", "histogram",
    PROBE_LABELS, LATENCY_BUCKETS,
)  # fmt: skip
CONNECT = Spec(
    "llm_monitor_connect_seconds",
    "Connection setup time (TCP, TLS) of probes that opened a new connection.", "histogram",
    PROBE_LABELS, CONNECT_BUCKETS,
)  # fmt: skip
OUTPUT_TOKENS = Spec(
    "llm_monitor_output_tokens", "Output tokens used by probes.", "counter", PROBE_LABELS
)
INPUT_TOKENS = Spec(
    "llm_monitor_input_tokens", "Input tokens used by probes.", "counter", PROBE_LABELS
)
COST = Spec(
    "llm_monitor_probe_cost_usd", "What the probes cost in USD, from usage and pricing.",
    "counter", PROBE_LABELS,
)  # fmt: skip
ENDPOINT_INFO = Spec(
    "llm_monitor_endpoint_info", "Endpoint metadata (always 1).", "gauge",
    (*PROBE_LABELS, "region", "deployment", "api_version"),
)  # fmt: skip
BUILD_INFO = Spec(
    "llm_monitor_build_info", "The running llm-monitor version (always 1).", "gauge", ("version",)
)
LOOP_LAG = Spec(
    "llm_monitor_event_loop_lag_seconds",
    "How late the probing event loop ran a timer, last measurement.", "gauge",
)  # fmt: skip
STORAGE_ERRORS = Spec(
    "llm_monitor_storage_errors", "Failed writes or reads of the store.", "counter"
)
MISSED_RUNS = Spec(
    "llm_monitor_scheduler_missed_runs",
    "Scheduled probes that did not run on time (coalesced or skipped).", "counter", ("endpoint",),
)  # fmt: skip
SCHEDULING_DELAY = Spec(
    "llm_monitor_scheduler_delay_seconds",
    "How late scheduled probes started: actual minus planned start (jitter excluded).",
    "histogram", (), DELAY_BUCKETS,
)  # fmt: skip
SKIPPED = Spec(
    "llm_monitor_probes_skipped",
    "Scheduled probes not sent, by reason (retry_after: a 429 said how long to wait;"
    " backoff: 429s in a row that did not).",
    "counter", ("endpoint", "reason"),
)  # fmt: skip
CONFIG_RELOAD_SUCCESS = Spec(
    "llm_monitor_config_last_reload_success",
    "1 if the last configuration (re)load succeeded.", "gauge",
)  # fmt: skip

ROLLUP_LEADER = Spec(
    "llm_monitor_rollup_leader",
    "1 while this agent holds the rollup lease (it alone exports the window and model"
    " families), else 0.", "gauge", ("agent", "location"),
)  # fmt: skip
CLOCK_OFFSET = Spec(
    "llm_monitor_clock_offset_seconds",
    "This agent's clock minus the store's, measured at its last heartbeat.", "gauge",
    ("agent", "location"),
)  # fmt: skip

BUDGET_EXHAUSTED = Spec(
    "llm_monitor_budget_exhausted",
    "1 while the probes' spend of the last 24 h is at or over probe.budget_usd_per_day"
    " (the intervals are stretched), else 0.", "gauge",
)  # fmt: skip

STAMPS = Spec(
    "llm_monitor_probe_stamps",
    "Probes that read a response, by where their arrival times came from: 'kernel' (the"
    " kernel's receive stamps) or 'loop' (when the process read the bytes).", "counter",
    ("agent", "location", "stamp_source"),
)  # fmt: skip

#: The probe families by kind (docs/design.md#probe-kinds): every kind of an endpoint that has
#: kinds besides the default one, ``short`` included, so that TTFT against prompt size can be
#: compared; the families above count the default kind only.
KIND_LABELS = (*PROBE_LABELS, "kind")
KIND_PROBES = Spec(
    "llm_monitor_kind_probes", "Probes finished, by kind and outcome.", "counter",
    (*KIND_LABELS, "outcome"),
)  # fmt: skip
KIND_TTFT = Spec(
    "llm_monitor_kind_time_to_first_token_seconds",
    "TTFT of successful probes, by kind (prompt size).", "histogram", KIND_LABELS,
    LATENCY_BUCKETS,
)  # fmt: skip
KIND_INPUT_TOKENS = Spec(
    "llm_monitor_kind_input_tokens",
    "Prompt tokens of the last probe of each kind, as the provider counted them.", "gauge",
    KIND_LABELS,
)  # fmt: skip

PROBE_FAMILIES = (
    PROBES, PROBE_SUCCESS, LAST_PROBE, TTFT, ANSWER_TTFT, SPEED, DURATION, CONNECT, OUTPUT_TOKENS,
    INPUT_TOKENS, COST, ENDPOINT_INFO, BUILD_INFO, LOOP_LAG, STORAGE_ERRORS, MISSED_RUNS,
    SCHEDULING_DELAY, SKIPPED, CONFIG_RELOAD_SUCCESS, ROLLUP_LEADER, CLOCK_OFFSET,
    BUDGET_EXHAUSTED, STAMPS,
)  # fmt: skip

# --- window and model families (LiveCollector) -------------------------------------------------

WINDOW_UPTIME = Spec(
    "llm_monitor_window_uptime_ratio",
    "Uptime in the last complete rollup window.", "gauge", ENDPOINT_LABELS,
)  # fmt: skip
# Summaries, not gauges: only a summary may carry a ``quantile`` label (promtool rejects it on
# anything else). Each endpoint's series: quantile="0.5" and "0.95", then _count and _sum
# (count x mean).
WINDOW_TTFT = Spec(
    "llm_monitor_window_time_to_first_token_seconds",
    "TTFT quantiles of successful probes in the last complete rollup window.", "summary",
    ENDPOINT_LABELS,
)  # fmt: skip
WINDOW_SPEED = Spec(
    "llm_monitor_window_output_tokens_per_second",
    "Output speed quantiles of successful probes in the last complete rollup window.", "summary",
    ENDPOINT_LABELS,
)  # fmt: skip
WINDOW_PROBES = Spec(
    "llm_monitor_window_probes", "Probes in the last complete rollup window.", "gauge",
    ENDPOINT_LABELS,
)  # fmt: skip
MODEL_INFO = Spec(
    "llm_monitor_model_info", "Model profile facts (always 1).", "gauge",
    ("model", "name", "creator", "release_date", "modality"),
)  # fmt: skip
MODEL_PRICE = Spec(
    "llm_monitor_model_price_usd_per_million_tokens", "Model price per million tokens.", "gauge",
    ("model", "token_type"),
)  # fmt: skip
MODEL_CONTEXT = Spec(
    "llm_monitor_model_context_window_tokens", "Model context window.", "gauge", ("model",)
)
MODEL_MAX_OUTPUT = Spec(
    "llm_monitor_model_max_output_tokens", "Model maximum output tokens.", "gauge", ("model",)
)
MODEL_UPTIME = Spec(
    "llm_monitor_model_uptime_ratio",
    "Mean endpoint uptime over the profile's uptime window.", "gauge", ("model",),
)  # fmt: skip
MODEL_BEST_TTFT = Spec(
    "llm_monitor_model_best_time_to_first_token_seconds",
    "Lowest endpoint p50 TTFT in the last complete window.", "gauge", ("model",),
)  # fmt: skip
MODEL_BEST_SPEED = Spec(
    "llm_monitor_model_best_output_tokens_per_second",
    "Highest endpoint p50 output speed in the last complete window.", "gauge", ("model",),
)  # fmt: skip
MODEL_ENDPOINTS = Spec(
    "llm_monitor_model_endpoints", "Configured endpoints of the model.", "gauge", ("model",)
)
MODEL_ENDPOINTS_ACTIVE = Spec(
    "llm_monitor_model_endpoints_active",
    "Endpoints of the model with a success in the last complete window.", "gauge", ("model",),
)  # fmt: skip

INCIDENT_OPEN = Spec(
    "llm_monitor_endpoint_incident_open",
    "1 while the endpoint has an open incident, else 0 (docs/design.md#incidents).", "gauge",
    ENDPOINT_LABELS,
)  # fmt: skip

LIVE_FAMILIES = (
    WINDOW_UPTIME, WINDOW_TTFT, WINDOW_SPEED, WINDOW_PROBES, MODEL_INFO, MODEL_PRICE,
    MODEL_CONTEXT, MODEL_MAX_OUTPUT, MODEL_UPTIME, MODEL_BEST_TTFT, MODEL_BEST_SPEED,
    MODEL_ENDPOINTS, MODEL_ENDPOINTS_ACTIVE, INCIDENT_OPEN,
)  # fmt: skip
