"""Probes and rollups for the tests, with every field set unless a test overrides it."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import Distribution, EndpointRollup

#: A window start (30 min) with no microseconds, and a moment inside it that has some.
WINDOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
T0 = WINDOW + timedelta(minutes=7, seconds=3, microseconds=123_457)

_ids = itertools.count()


def probe_id() -> str:
    """A probe id not used before in this test session."""
    return f"probe-{next(_ids):08d}"


def make_probe(**overrides: Any) -> ProbeResult:
    """A successful probe with every optional field known (not None, not 0). Its answer TTFT
    is 81 ms after its TTFT (as a reasoning model's); given a TTFT alone, it is that TTFT (as
    any model's that streams no reasoning)."""
    base = ProbeResult(
        probe_id=probe_id(),
        endpoint="azure-eastus",
        provider="azure",
        model="gpt-4.1-nano",
        api="chat_completions",
        region="eastus",
        outcome=Outcome.SUCCESS,
        started_at=T0,
        http_status=200,
        ttft_seconds=0.531_234_567_891,
        total_seconds=1.234_567_890_123,
        first_byte_seconds=0.401_000_000_001,
        output_tokens=64,
        input_tokens=23,
        reasoning_tokens=7,
        cached_input_tokens=5,
        tokens_estimated=True,
        output_tokens_per_second=111.111_111_111_1,
        inter_token_latency_seconds=0.009_000_000_1,
        content_chunks=41,
        connect_seconds=0.042_424_242,
        connection_reused=False,
        finish_reason="stop",
        response_model="gpt-4.1-nano-2025-04-14",
        provider_request_id="req_0123456789abcdef",
        retry_after_seconds=1.5,
        cost_usd=0.000_027_9,
        error="an error message, with ünïcödé and 'quotes'",
        duration_seconds=1.456_789_012_345,
        answer_ttft_seconds=0.612_345_678_901,
    )
    if "answer_ttft_seconds" not in overrides and "ttft_seconds" in overrides:
        ttft = overrides["ttft_seconds"]
        overrides["answer_ttft_seconds"] = ttft
    return replace(base, **overrides)


def bare_probe(**overrides: Any) -> ProbeResult:
    """A probe with every field that can be unknown left at None (and the rest at defaults)."""
    base = ProbeResult(
        probe_id=probe_id(),
        endpoint="openai",
        provider="openai",
        model="gpt-4.1-nano",
        api="responses",
        region=None,
        outcome=Outcome.CONNECT_ERROR,
        started_at=T0,
    )
    return replace(base, **overrides)


def make_distribution(scale: float) -> Distribution:
    """A distribution with every statistic known."""
    return Distribution(
        count=120,
        p50=0.5 * scale,
        p90=0.9 * scale,
        p95=0.95 * scale,
        p99=0.99 * scale,
        min=0.1 * scale,
        max=1.7 * scale,
        mean=0.612_345_678_9 * scale,
    )


def make_rollup(**overrides: Any) -> EndpointRollup:
    """A rollup of one 30-minute window with every statistic known."""
    base = EndpointRollup(
        endpoint="azure-eastus",
        model="gpt-4.1-nano",
        provider="azure",
        region="eastus",
        window_start=WINDOW,
        window_seconds=1800,
        probes=30,
        successes=27,
        outcomes={"rate_limited": 1, "success": 27, "timeout": 2},
        uptime_ratio=0.9,
        ttft=make_distribution(1.0),
        speed=make_distribution(200.0),
        latency=make_distribution(2.0),
        output_tokens=1920,
        input_tokens=690,
        cost_usd=0.000_837,
        computed_at=WINDOW + timedelta(minutes=30, seconds=1, microseconds=654_321),
    )
    return replace(base, **overrides)
