"""Where a probe's arrival times come from (docs/design.md#arrival-time): ``stamp_source`` is
``kernel`` on Linux, where the probe's sockets carry the kernel's receive stamps, and ``loop``
when they cannot (a system without the option, a socket that refuses it, the switch turned off,
a clock step that makes a stamp impossible); the TTFT is right either way. Probes against the
simulator over loopback, in this process (the stopped-process cases are in
tests/reliability/test_stalls.py)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import yaml
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import Endpoint, parse_config
from monitor.core.errors import ConfigError
from monitor.core.result import ProbeResult
from monitor.metrics.probe import ProbeMetrics
from monitor.metrics.registry import MetricsRegistry
from monitor.probing import transport
from monitor.probing.runner import ProbeRunner
from monitor.simulator import Simulator, SimulatorConfig

KEY = "sk-stamps-0123456789abcdef"
MODEL = "gpt-4.1-nano"
LINUX = pytest.mark.skipif(sys.platform != "linux", reason="kernel stamps are a Linux feature")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig.model_validate(
        {
            "port": 0,
            "seed": 3,
            "endpoints": [{"id": "a", "api_key": KEY, "ttft": "60ms", "tokens_per_second": 400}],
        }
    )
    async with Simulator(config) as simulator:
        yield simulator


def _endpoint(sim: Simulator) -> Endpoint:
    text = yaml.safe_dump(
        {
            "probe": {"timeout": "5s", "max_tokens": 16},
            "models": [{"id": MODEL}],
            "endpoints": [
                {"id": "a", "model": MODEL, "provider": "openai",
                 "base_url": sim.endpoint_url("a"), "api_key_env": "SIM_KEY"},
            ],
        }
    )  # fmt: skip
    return parse_config(text, environ={"SIM_KEY": KEY}).endpoints[0]


async def _probe(sim: Simulator, **runner: Any) -> ProbeResult:
    probes = ProbeRunner(**runner)
    try:
        result = await probes.probe(_endpoint(sim))
    finally:
        await probes.aclose()
    assert result.ok, result.error
    return result


def _ttft_error_ms(sim: Simulator, result: ProbeResult) -> float:
    assert result.provider_request_id is not None and result.ttft_seconds is not None
    truth = sim.truth(result.provider_request_id)
    assert truth is not None and truth.ttft_seconds is not None
    return abs(result.ttft_seconds - truth.ttft_seconds) * 1000


@LINUX
@pytest.mark.asyncio(loop_scope="module")
async def test_probes_on_linux_use_the_kernels_receive_stamps(sim: Simulator) -> None:
    assert transport.kernel_stamps_available()
    result = await _probe(sim)
    assert result.stamp_source == "kernel"
    assert result.first_token_queued is False
    assert _ttft_error_ms(sim, result) < 20


@pytest.mark.asyncio(loop_scope="module")
async def test_without_the_socket_option_the_loops_read_time_is_used(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A system that has no SO_TIMESTAMPNS.
    monkeypatch.setattr(transport, "_SO_TIMESTAMPNS", None)
    result = await _probe(sim)
    assert result.stamp_source == "loop"
    assert _ttft_error_ms(sim, result) < 20


@LINUX
@pytest.mark.asyncio(loop_scope="module")
async def test_a_socket_that_refuses_the_option_falls_back_to_the_loop(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A kernel (or a sandbox's seccomp filter) that refuses the option on the socket.
    setsockopt = socket.socket.setsockopt

    def refusing(self: socket.socket, level: int, option: int, *value: Any) -> None:
        if level == socket.SOL_SOCKET and option == transport._SO_TIMESTAMPNS:
            raise OSError(92, "Protocol not available")
        setsockopt(self, level, option, *value)

    monkeypatch.setattr(socket.socket, "setsockopt", refusing)
    result = await _probe(sim)
    assert result.stamp_source == "loop"
    assert _ttft_error_ms(sim, result) < 20


@LINUX
@pytest.mark.asyncio(loop_scope="module")
async def test_the_switch_turns_kernel_stamps_off(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_MONITOR_KERNEL_STAMPS", "off")
    assert (await _probe(sim)).stamp_source == "loop"
    monkeypatch.setenv("LLM_MONITOR_KERNEL_STAMPS", "On")
    assert (await _probe(sim)).stamp_source == "kernel"


def test_a_bad_switch_is_a_config_error_that_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    with pytest.raises(ConfigError, match="LLM_MONITOR_KERNEL_STAMPS: must be 'on' or 'off'"):
        parse_config("{}", environ={"LLM_MONITOR_KERNEL_STAMPS": "yes please"})
    config = tmp_path / "monitor.yaml"
    config.write_text("models: []\n", encoding="utf-8")
    outcome = CliRunner().invoke(
        cli, ["check-config", str(config)], env={"LLM_MONITOR_KERNEL_STAMPS": "1"}
    )
    assert outcome.exit_code == 2
    assert "LLM_MONITOR_KERNEL_STAMPS: must be 'on' or 'off', not '1'" in outcome.output


class _SteppedClock:
    """``time`` as the transport sees it, with the real-time clock stepped by ``step`` seconds
    after the bytes arrived (an NTP step, a manual ``date -s``)."""

    def __init__(self, step: float) -> None:
        self.step_ns = int(step * 1e9)

    def time_ns(self) -> int:
        return time.time_ns() + self.step_ns


@LINUX
@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("step", [-30.0, 30.0])
async def test_a_clock_step_between_arrival_and_read_falls_back_to_the_loop(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, step: float
) -> None:
    # Forward, a stamp would fall before the request was sent; backward, after its own read:
    # neither can be, so the read time is used instead, and the TTFT stays right.
    monkeypatch.setattr(transport, "time", _SteppedClock(step))
    result = await _probe(sim)
    assert result.stamp_source == "loop"
    assert _ttft_error_ms(sim, result) < 20


@LINUX
@pytest.mark.asyncio(loop_scope="module")
async def test_the_stamp_source_is_counted_per_agent(sim: Simulator) -> None:
    registry = MetricsRegistry()
    metrics = ProbeMetrics(registry, agent="a1", location="here")
    metrics.observe(await _probe(sim))
    text = (registry.render(openmetrics=False) or b"").decode()
    kernel = 'llm_monitor_probe_stamps_total{agent="a1",location="here",stamp_source="kernel"} 1.0'
    loop = 'llm_monitor_probe_stamps_total{agent="a1",location="here",stamp_source="loop"} 0.0'
    assert kernel in text and loop in text
