"""A provider that misbehaves gives one outcome per probe, within the probe's deadline, and never
gets our key anywhere else: hangs, a drip, resets, bodies that are not SSE, invalid UTF-8,
HTTP/1.0 close-delimited streams and redirects, each over real loopback HTTP to the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
import yaml

from monitor.config import Config, parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner
from monitor.simulator import Simulator

from .harness import KEY, MODEL, monitored, sim_config, sim_endpoint

TIMEOUT = 2.0
#: How much later than its deadline a probe may end: scheduling and the final bookkeeping.
SLACK = 0.6


@dataclass
class Listener:
    """A second host that records every connection and byte that reaches it."""

    connections: int = 0
    received: bytearray = field(default_factory=bytearray)
    server: asyncio.Server | None = None

    async def start(self) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self.received += await reader.read(65536)
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@dataclass
class Stack:
    sim: Simulator
    config: Config
    other_host: Listener
    results: dict[str, ProbeResult]
    seconds: dict[str, float]


SIM_ENDPOINTS: dict[str, dict[str, Any]] = {
    "hang-before-headers": {"mode": "hang_before_headers"},
    "hang-after-headers": {"mode": "hang_after_headers"},
    "hang-mid-stream": {"mode": "hang_mid_stream"},
    "drip": {"mode": "drip", "drip_interval": "1s"},
    "reset": {"mode": "reset"},
    "reset-mid-stream": {"mode": "truncated", "truncate_style": "reset", "output_tokens": 200,
                         "tokens_per_second": 400},
    "not-sse-html": {"mode": "not_sse", "not_sse_body": "html"},
    "not-sse-json": {"mode": "not_sse", "not_sse_body": "json"},
    "invalid-utf8": {"mode": "invalid_utf8"},
    "close-delimited": {"mode": "close_delimited"},
    "redirect-307": {"mode": "redirect", "redirect_status": 307},
    "redirect-308": {"mode": "redirect", "redirect_status": 308},
}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack() -> AsyncIterator[Stack]:
    other_host = Listener()
    elsewhere = await other_host.start()
    endpoints = [
        sim_endpoint(name, **{"redirect_to": elsewhere, **settings})
        for name, settings in SIM_ENDPOINTS.items()
    ]
    endpoints.append(
        sim_endpoint(
            "azure-close-delimited", flavor="azure", deployments=["nano"], mode="close_delimited"
        )
    )
    async with Simulator(sim_config(*endpoints)) as sim:
        monitor_endpoints = [monitored(sim, name) for name in SIM_ENDPOINTS]
        monitor_endpoints += [
            monitored(sim, "responses-invalid-utf8", "invalid-utf8", api="responses"),
            monitored(sim, "responses-close-delimited", "close-delimited", api="responses"),
            {"id": "azure-close-delimited", "model": MODEL, "provider": "azure",
             "base_url": sim.endpoint_url("azure-close-delimited"), "deployment": "nano",
             "api_key_env": "SIM_KEY"},
        ]  # fmt: skip
        text = yaml.safe_dump(
            {
                "probe": {"timeout": f"{TIMEOUT}s", "interval": "10s", "max_tokens": 16},
                "models": [{"id": MODEL}],
                "endpoints": monitor_endpoints,
            }
        )
        config = parse_config(text, environ={"SIM_KEY": KEY})
        runner = ProbeRunner()
        seconds: dict[str, float] = {}

        async def timed(endpoint_id: str) -> ProbeResult:
            endpoint = next(e for e in config.endpoints if e.id == endpoint_id)
            began = time.monotonic()
            result = await runner.probe(endpoint)
            seconds[endpoint_id] = time.monotonic() - began
            return result

        try:
            done = await asyncio.gather(*(timed(e.id) for e in config.endpoints))
        finally:
            await runner.aclose()
        results = {r.endpoint: r for r in done}
        yield Stack(sim, config, other_host, results, seconds)
        assert other_host.server is not None
        other_host.server.close()


@pytest.mark.parametrize(
    ("endpoint", "status"),
    [("hang-before-headers", None), ("hang-after-headers", 200), ("hang-mid-stream", 200)],
)
def test_a_hang_ends_as_a_timeout_at_the_probe_deadline(
    stack: Stack, endpoint: str, status: int | None
) -> None:
    result = stack.results[endpoint]
    assert result.outcome is Outcome.TIMEOUT, result.error
    assert result.http_status == status
    assert TIMEOUT - 0.05 <= stack.seconds[endpoint] <= TIMEOUT + SLACK
    assert result.error is not None and "timeout" in result.error
    # What was measured before the hang is kept; what never happened is unknown, not 0.
    assert result.total_seconds is None
    if endpoint == "hang-mid-stream":
        assert result.ttft_seconds is not None and result.content_chunks > 0
    else:
        assert result.ttft_seconds is None and result.content_chunks == 0


def test_a_one_byte_per_second_drip_is_cut_by_the_whole_probe_deadline(stack: Stack) -> None:
    # Each byte arrives well within the read timeout; only the whole-probe deadline stops it.
    result = stack.results["drip"]
    assert result.outcome is Outcome.TIMEOUT
    assert result.http_status == 200
    assert stack.seconds["drip"] <= TIMEOUT + SLACK
    (truth,) = stack.sim.recent(endpoint_id="drip")
    assert truth.behaviour == "drip" and truth.done_sent_ns is None  # it was far from done


def test_a_reset_before_the_answer_is_a_connect_error(stack: Stack) -> None:
    result = stack.results["reset"]
    assert result.outcome is Outcome.CONNECT_ERROR, result.error
    assert result.http_status is None and result.total_seconds is None
    assert result.error is not None and "before a response" in result.error


def test_a_reset_mid_stream_is_a_stream_error(stack: Stack) -> None:
    result = stack.results["reset-mid-stream"]
    assert result.outcome is Outcome.STREAM_ERROR, result.error
    assert result.http_status == 200 and result.content_chunks > 0
    assert result.error is not None and "during the stream" in result.error
    (truth,) = stack.sim.recent(endpoint_id="reset-mid-stream")
    assert truth.ending == "reset"


@pytest.mark.parametrize(("endpoint", "content_type"), [
    ("not-sse-html", "text/html"), ("not-sse-json", "application/json"),
])  # fmt: skip
def test_a_200_that_is_not_an_event_stream_is_a_protocol_error(
    stack: Stack, endpoint: str, content_type: str
) -> None:
    result = stack.results[endpoint]
    assert result.outcome is Outcome.PROTOCOL_ERROR, result.error
    assert result.http_status == 200
    assert result.error is not None and content_type in result.error
    assert result.ttft_seconds is None and result.output_tokens is None


@pytest.mark.parametrize("endpoint", ["invalid-utf8", "responses-invalid-utf8"])
def test_invalid_utf8_is_decoded_with_replacement_and_measured_as_usual(
    stack: Stack, endpoint: str
) -> None:
    # WHATWG SSE decodes a stream with UTF-8 *decode*, which replaces bad bytes with U+FFFD;
    # the JSON around them stays valid, so the answer counts, timed like any other.
    result = stack.results[endpoint]
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.provider_request_id is not None
    truth = stack.sim.truth(result.provider_request_id)
    assert truth is not None and truth.behaviour == "invalid_utf8"
    assert result.output_tokens == truth.output_tokens and not result.tokens_estimated
    assert result.content_chunks == truth.content_chunks
    assert result.ttft_seconds is not None and truth.ttft_seconds is not None
    assert abs(result.ttft_seconds - truth.ttft_seconds) < 0.01


@pytest.mark.parametrize(
    "endpoint", ["close-delimited", "azure-close-delimited", "responses-close-delimited"]
)
def test_an_http_1_0_close_delimited_stream_is_a_success(stack: Stack, endpoint: str) -> None:
    # No chunked encoding and no Content-Length: the body ends when the server closes.
    result = stack.results[endpoint]
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.provider_request_id is not None
    truth = stack.sim.truth(result.provider_request_id)
    assert truth is not None and truth.behaviour == "close_delimited"
    assert truth.ending == "complete"
    assert result.output_tokens == truth.output_tokens
    assert result.finish_reason == truth.finish_reason == "length"  # cut at max_tokens 16
    assert result.ttft_seconds is not None and truth.ttft_seconds is not None
    assert abs(result.ttft_seconds - truth.ttft_seconds) < 0.01


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_to_another_host_is_never_followed(stack: Stack, status: int) -> None:
    result = stack.results[f"redirect-{status}"]
    assert result.outcome is Outcome.PROTOCOL_ERROR, result.error
    assert result.http_status == status
    assert result.error is not None and "not followed" in result.error
    assert KEY not in result.error
    # The other host saw nothing at all: no connection, so certainly not the key.
    assert stack.other_host.connections == 0
    assert KEY.encode() not in stack.other_host.received


def test_no_probe_outlives_its_deadline(stack: Stack) -> None:
    late = {k: round(v, 2) for k, v in stack.seconds.items() if v > TIMEOUT + SLACK}
    assert not late
