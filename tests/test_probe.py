"""Probes over real loopback HTTP against the simulator: exact timings, every outcome."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import yaml

from monitor.config import Config, Endpoint, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.probing.interpret import StreamState
from monitor.probing.runner import ProbeRunner
from monitor.probing.transport import WireTiming
from monitor.simulator import Simulator, SimulatorConfig

KEY = "sk-sim-probe-tests-0123456789"
MODES = [
    "server_error",
    "rate_limited",
    "bad_request",
    "hang_before_headers",
    "hang_after_headers",
    "hang_mid_stream",
    "drip",
    "mid_stream_error",
    "truncated",
    "reset",
    "not_sse",
    "malformed_json",
    "empty",
    "content_filter",
    "keepalive_comments",
    "premature_stop",
]


def _sim_endpoints() -> list[dict[str, Any]]:
    # The answer is the prompt's count ("1 2 … 40"), cut at the probes' max_tokens of 30.
    common = {"api_key": KEY, "tokens_per_second": 400}
    endpoints: list[dict[str, Any]] = [
        {"id": "openai", "flavor": "openai", "ttft": "150ms", **common},
        {"id": "openai-chunky", "flavor": "openai", "ttft": "80ms", "tokens_per_chunk": [2, 5],
         **common},
        {"id": "azure", "flavor": "azure", "deployments": ["nano"], "ttft": "120ms",
         "burst": {"chunks": 3}, **common},
    ]  # fmt: skip
    endpoints += [
        {"id": f"m-{mode}", "flavor": "openai", "mode": mode, "ttft": "30ms",
         "drip_interval": "200ms", "ping_interval": "10ms", **common}
        for mode in MODES
    ]  # fmt: skip
    return endpoints


def _monitor_endpoints(sim: Simulator, closed_port: int) -> list[dict[str, Any]]:
    def openai(eid: str, sim_id: str, **extra: Any) -> dict[str, Any]:
        return {"id": eid, "model": "gpt-4.1-nano", "provider": "openai",
                "base_url": sim.endpoint_url(sim_id), "api_key_env": "KEY", **extra}  # fmt: skip

    def azure(eid: str, **extra: Any) -> dict[str, Any]:
        return {"id": eid, "model": "gpt-4.1-nano", "provider": "azure",
                "base_url": sim.endpoint_url("azure"), "deployment": "nano", "api_key_env": "KEY",
                **extra}  # fmt: skip

    endpoints = [
        openai("openai", "openai"),
        openai("openai-chunky", "openai-chunky"),
        openai("responses", "openai", api="responses"),
        azure("azure"),
        azure("azure-old-api", api_version="2024-06-01"),
        azure("azure-v1", api_version="v1", request_model="nano"),
        azure("azure-missing-deployment", deployment="no-such-deployment"),
        openai("wrong-key", "openai", api_key_env="WRONG_KEY"),
        {"id": "closed-port", "model": "gpt-4.1-nano", "provider": "openai_compatible",
         "base_url": f"http://127.0.0.1:{closed_port}/v1"},
    ]  # fmt: skip
    endpoints += [openai(f"m-{mode}", f"m-{mode}") for mode in MODES]
    return endpoints


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[tuple[Simulator, Config]]:
    sim_config = SimulatorConfig.model_validate(
        {"port": 0, "seed": 3, "endpoints": _sim_endpoints()}
    )
    async with Simulator(sim_config) as sim:
        text = yaml.safe_dump(
            {
                "probe": {"timeout": "1500ms", "interval": "10s", "jitter": 0, "max_tokens": 30},
                "models": [
                    {
                        "id": "gpt-4.1-nano",
                        "pricing": {"input_per_million": 0.1, "output_per_million": 0.4},
                    }
                ],
                "endpoints": _monitor_endpoints(sim, _closed_port()),
            }
        )
        config = parse_config(text, environ={"KEY": KEY, "WRONG_KEY": "sk-wrong-key-000000"})
        yield sim, config


@pytest.fixture(scope="module")
def request_written() -> dict[str, int]:
    """Probe id -> the probe's request-write stamp (perf_counter_ns), filled by `results`."""
    return {}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def results(
    stack: tuple[Simulator, Config], request_written: dict[str, int]
) -> dict[str, ProbeResult]:
    _sim, config = stack

    def observe(result: ProbeResult, timing: WireTiming, _state: StreamState) -> None:
        if timing.request_started_ns is not None:
            request_written[result.probe_id] = timing.request_started_ns

    runner = ProbeRunner(observer=observe)
    # As the daemon does once started: pytest's big heap otherwise gets full collections of
    # 20-50 ms in the middle of the round, which stall this one loop (probes and simulator).
    gc.collect()
    gc.freeze()
    try:
        done = await asyncio.gather(*(runner.probe(e) for e in config.endpoints))
    finally:
        gc.unfreeze()
        await runner.aclose()
    return {r.endpoint: r for r in done}


def _endpoint(config: Config, endpoint_id: str) -> Endpoint:
    return next(e for e in config.endpoints if e.id == endpoint_id)


@pytest.mark.parametrize(
    ("endpoint", "outcome"),
    [
        ("openai", Outcome.SUCCESS),
        ("openai-chunky", Outcome.SUCCESS),
        ("responses", Outcome.SUCCESS),
        ("azure", Outcome.SUCCESS),
        ("azure-old-api", Outcome.SUCCESS),
        ("azure-v1", Outcome.SUCCESS),
        ("azure-missing-deployment", Outcome.NOT_FOUND),
        ("wrong-key", Outcome.AUTH_ERROR),
        ("closed-port", Outcome.CONNECT_ERROR),
        ("m-server_error", Outcome.SERVER_ERROR),
        ("m-rate_limited", Outcome.RATE_LIMITED),
        ("m-bad_request", Outcome.BAD_REQUEST),
        ("m-hang_before_headers", Outcome.TIMEOUT),
        ("m-hang_after_headers", Outcome.TIMEOUT),
        ("m-hang_mid_stream", Outcome.TIMEOUT),
        ("m-drip", Outcome.TIMEOUT),
        ("m-mid_stream_error", Outcome.STREAM_ERROR),
        ("m-truncated", Outcome.STREAM_ERROR),
        ("m-reset", Outcome.CONNECT_ERROR),
        ("m-not_sse", Outcome.PROTOCOL_ERROR),
        ("m-malformed_json", Outcome.PROTOCOL_ERROR),
        ("m-empty", Outcome.EMPTY_RESPONSE),
        ("m-content_filter", Outcome.CONTENT_FILTER),
        ("m-keepalive_comments", Outcome.SUCCESS),
        ("m-premature_stop", Outcome.WRONG_ANSWER),
    ],
)
def test_each_behaviour_gives_its_outcome(
    results: dict[str, ProbeResult], endpoint: str, outcome: Outcome
) -> None:
    result = results[endpoint]
    assert result.outcome is outcome, result.error
    assert (result.error is None) == (outcome is Outcome.SUCCESS)


def test_every_outcome_of_design_section_3_is_produced(results: dict[str, ProbeResult]) -> None:
    produced = {r.outcome for r in results.values()}
    assert produced == set(Outcome) - {Outcome.CANCELLED}


@pytest.mark.serial  # TTFT against the simulator's send times to 5 ms
@pytest.mark.parametrize("endpoint", ["openai", "openai-chunky", "azure", "responses"])
def test_ttft_and_speed_match_the_simulators_send_times(
    stack: tuple[Simulator, Config],
    results: dict[str, ProbeResult],
    request_written: dict[str, int],
    endpoint: str,
) -> None:
    sim, _config = stack
    result = results[endpoint]
    assert result.provider_request_id is not None
    truth = sim.truth(result.provider_request_id)
    assert truth is not None and truth.first_content_sent_ns is not None
    assert result.ttft_seconds is not None
    # One clock for both sides (same process): the true TTFT runs from the probe's request write
    # to the simulator's first-content write. The simulator's own ttft_seconds starts at its
    # first read instead, which lags the write by however long this one event loop spends
    # opening the other 23 probes' connections: a cost of the test set-up, not of the probe.
    true_ttft = (truth.first_content_sent_ns - request_written[result.probe_id]) / 1e9
    assert abs(result.ttft_seconds - true_ttft) < 0.005
    assert result.content_chunks == truth.content_chunks
    assert result.output_tokens == truth.output_tokens
    assert truth.output_tokens_per_second is not None
    assert result.output_tokens_per_second == pytest.approx(
        truth.output_tokens_per_second, rel=0.03
    )


def test_a_success_carries_usage_cost_and_connection_facts(results: dict[str, ProbeResult]) -> None:
    result = results["openai"]
    assert result.http_status == 200
    assert result.output_tokens == 30 and not result.tokens_estimated
    assert result.input_tokens is not None and result.input_tokens > 0
    assert result.cost_usd == pytest.approx(
        (result.input_tokens * 0.1 + result.output_tokens * 0.4) / 1e6
    )
    assert result.connection_reused is False and result.connect_seconds is not None
    assert result.total_seconds is not None and result.ttft_seconds is not None
    assert result.total_seconds >= result.ttft_seconds
    assert result.first_byte_seconds is not None
    assert result.first_byte_seconds <= result.ttft_seconds
    assert result.finish_reason == "length"  # the count to 40, cut at max_tokens 30
    assert result.response_model == "gpt-4.1-nano-2025-04-14"
    # No reasoning streamed: the first token is the answer's.
    assert result.answer_ttft_seconds == result.ttft_seconds


def test_azure_without_stream_usage_estimates_tokens(results: dict[str, ProbeResult]) -> None:
    old = results["azure-old-api"]
    assert old.tokens_estimated and old.output_tokens is not None
    assert 20 <= old.output_tokens <= 40  # the simulator sent 30
    assert not results["azure"].tokens_estimated


def test_rate_limit_keeps_retry_after_and_request_id(results: dict[str, ProbeResult]) -> None:
    result = results["m-rate_limited"]
    assert result.http_status == 429
    assert result.retry_after_seconds == pytest.approx(2.0)
    assert result.provider_request_id


def test_failures_have_unknown_not_zero_numbers(results: dict[str, ProbeResult]) -> None:
    for name in ("m-server_error", "closed-port", "m-hang_before_headers"):
        result = results[name]
        assert result.ttft_seconds is None and result.output_tokens_per_second is None
        assert result.answer_ttft_seconds is None
        assert result.output_tokens is None and result.cost_usd is None
    assert results["closed-port"].http_status is None
    assert results["closed-port"].total_seconds is None


def test_every_probe_says_how_long_it_ran_even_without_an_end_of_stream(
    results: dict[str, ProbeResult],
) -> None:
    for result in results.values():
        assert result.duration_seconds is not None and result.duration_seconds > 0, result
    # A timeout has no end of stream, but ran for about its timeout (1500ms here).
    for name in ("m-hang_before_headers", "m-hang_mid_stream", "m-drip"):
        timed_out = results[name]
        assert timed_out.total_seconds is None
        assert timed_out.duration_seconds is not None
        assert 1.5 <= timed_out.duration_seconds < 3.0, timed_out.duration_seconds
    # A finished probe ran at least as long as its request took, and not much longer.
    done = results["openai"]
    assert done.total_seconds is not None and done.duration_seconds is not None
    assert done.total_seconds <= done.duration_seconds < done.total_seconds + 1.0
    assert done.to_json_dict()["duration_seconds"] == done.duration_seconds


def test_drip_is_stopped_by_the_whole_probe_deadline(results: dict[str, ProbeResult]) -> None:
    result = results["m-drip"]
    assert result.http_status == 200
    assert result.error is not None and "1.5s" in result.error


@pytest.mark.asyncio(loop_scope="module")
async def test_probe_deadline_holds_against_a_one_byte_drip(
    stack: tuple[Simulator, Config],
) -> None:
    _sim, config = stack
    runner = ProbeRunner()
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        result = await runner.probe(_endpoint(config, "m-drip"))
    finally:
        await runner.aclose()
    assert result.outcome is Outcome.TIMEOUT
    assert 1.4 < loop.time() - start < 2.5


@pytest.mark.asyncio(loop_scope="module")
async def test_connection_is_reused_and_connect_time_is_zero_then(
    stack: tuple[Simulator, Config],
) -> None:
    _sim, config = stack
    runner = ProbeRunner()
    try:
        first = await runner.probe(_endpoint(config, "openai"))
        second = await runner.probe(_endpoint(config, "openai"))
    finally:
        await runner.aclose()
    assert first.outcome is second.outcome is Outcome.SUCCESS
    # The first stream is left after [DONE]; whether its connection can be reused depends on
    # whether the body's terminator was read, so only the reported facts must agree.
    for result in (first, second):
        assert (result.connect_seconds == 0) == bool(result.connection_reused)
