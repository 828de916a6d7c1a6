"""The ``simulator:`` config section: shapes, defaults and one failing case per rule."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
import yaml

from monitor.simulator import Behaviour, Flavor, SimulatorConfig
from monitor.simulator.config import DurationDistribution

EXAMPLE = """
host: 127.0.0.1
port: 8400
seed: 42
history: 5000
endpoints:
  - id: openai-fast
    flavor: openai
    api_key: sk-sim-openai
    model: gpt-4.1-nano-2025-04-14
    ttft: 300ms
    tokens_per_second: {median: 120, spread: 0.1}
    tokens_per_chunk: {min: 1, max: 3}
    output_tokens: 40
    faults: {server_error: 0.01, rate_limited: 0.02, truncated: 0.01}
    outages: [{every: 10m, duration: 1m, kind: server_error}]
  - id: azure-eastus
    flavor: azure
    api_key_env: SIM_AZURE_KEY
    bearer_tokens: [entra-token]
    deployments: [gpt-41-nano]
    region: East US
    ttft: {median: 500ms, spread: 0.2}
    tokens_per_second: 90
    burst: {chunks: 8}
    mode: normal
"""


def _endpoint(**fields: Any) -> dict[str, Any]:
    return {"endpoints": [{"id": "e", **fields}]}


def test_documented_example_loads() -> None:
    config = SimulatorConfig.model_validate(yaml.safe_load(EXAMPLE))

    fast, azure = config.endpoints
    assert fast.ttft == DurationDistribution(median=0.3, spread=0.0)
    assert fast.tokens_per_second.median == 120.0
    assert (fast.tokens_per_chunk.min, fast.tokens_per_chunk.max) == (1, 3)
    assert fast.outages[0].every == 600.0
    assert azure.flavor is Flavor.AZURE
    assert azure.burst is not None
    assert azure.burst.chunks == 8
    assert config.endpoint("azure-eastus") is azure


def test_scalar_distributions_become_constants() -> None:
    endpoint = SimulatorConfig.model_validate(
        _endpoint(ttft="1.5s", tokens_per_second=50, output_tokens=[10, 20])
    ).endpoints[0]

    assert (endpoint.ttft.median, endpoint.ttft.spread) == (1.5, 0.0)
    assert (endpoint.tokens_per_second.median, endpoint.tokens_per_second.spread) == (50.0, 0.0)
    assert endpoint.output_tokens is not None
    assert (endpoint.output_tokens.min, endpoint.output_tokens.max) == (10, 20)


def test_defaults_make_a_working_openai_endpoint() -> None:
    endpoint = SimulatorConfig.model_validate(_endpoint()).endpoints[0]

    assert endpoint.flavor is Flavor.OPENAI
    assert endpoint.mode is Behaviour.NORMAL
    assert endpoint.model_names() == {"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"}
    assert endpoint.uses_obfuscation()


def test_the_answer_reasoning_and_input_latency_keys() -> None:
    plain = SimulatorConfig.model_validate(_endpoint()).endpoints[0]
    tuned = SimulatorConfig.model_validate(
        _endpoint(
            reasoning={"tokens": [100, 300], "style": "hidden"},
            ttft_per_1k_input_tokens="40ms",
            faults={"premature_stop": 0.05},
            mode="premature_stop",
        )
    ).endpoints[0]
    default_style = SimulatorConfig.model_validate(_endpoint(reasoning={"tokens": 50}))

    # Unset: the answer is what the prompt asks for; no reasoning; no input latency.
    assert (plain.output_tokens, plain.reasoning, plain.ttft_per_1k_input_tokens) == (
        None, None, 0.0,
    )  # fmt: skip
    assert tuned.reasoning is not None
    assert (tuned.reasoning.tokens.min, tuned.reasoning.tokens.max) == (100, 300)
    assert tuned.reasoning.style == "hidden"
    assert tuned.ttft_per_1k_input_tokens == 0.04
    assert tuned.faults.weights() == {Behaviour.PREMATURE_STOP: 0.05}
    assert tuned.mode is Behaviour.PREMATURE_STOP
    reasoning = default_style.endpoints[0].reasoning
    assert reasoning is not None and reasoning.style == "reasoning_content"


def test_explicit_aliases_replace_the_undated_name() -> None:
    endpoint = SimulatorConfig.model_validate(_endpoint(aliases=["nano"])).endpoints[0]

    assert endpoint.model_names() == {"gpt-4.1-nano-2025-04-14", "nano"}


def test_config_is_frozen() -> None:
    config = SimulatorConfig.model_validate(_endpoint())

    with pytest.raises(pydantic.ValidationError):
        config.port = 1


@pytest.mark.parametrize(
    ("data", "location", "message"),
    [
        ({"endpoints": [{"id": "e", "colour": "red"}]}, "endpoints.0.colour", "Extra inputs"),
        ({"endpoints": [{"id": "e"}], "extra": 1}, "extra", "Extra inputs"),
        ({"endpoints": []}, "endpoints", "at least 1"),
        (_endpoint(ttft="soon"), "endpoints.0.ttft.median", "duration"),
        (_endpoint(tokens_per_second=0), "endpoints.0.tokens_per_second.median", "greater than"),
        (_endpoint(tokens_per_chunk=0), "endpoints.0", "tokens_per_chunk must be >= 1"),
        (_endpoint(output_tokens={"min": 5, "max": 2}), "endpoints.0.output_tokens", "max (2)"),
        (
            _endpoint(faults={"server_error": 0.6, "rate_limited": 0.6}),
            "endpoints.0.faults",
            "add up to 1.2",
        ),
        (_endpoint(faults={"explode": 0.1}), "endpoints.0.faults.explode", "Extra inputs"),
        (
            _endpoint(reasoning={"tokens": 5, "style": "loud"}),
            "endpoints.0.reasoning.style",
            "Input",
        ),
        (_endpoint(reasoning={"style": "hidden"}), "endpoints.0.reasoning.tokens", "required"),
        (_endpoint(reasoning={"tokens": -1}), "endpoints.0.reasoning.tokens.min", "greater than"),
        (
            _endpoint(ttft_per_1k_input_tokens=-1),
            "endpoints.0.ttft_per_1k_input_tokens",
            "duration",
        ),
        (_endpoint(flavor="azure"), "endpoints.0", "at least one deployment"),
        (_endpoint(deployments=["d"]), "endpoints.0", "only apply to the azure flavor"),
        (_endpoint(api_key="k", api_key_env="K"), "endpoints.0", "not both"),
        (_endpoint(mode="sleepy"), "endpoints.0.mode", "Input should be"),
        (_endpoint(server_error_status=504), "endpoints.0.server_error_status", "Input should"),
        (
            _endpoint(outages=[{"every": "1m", "duration": "1m"}]),
            "endpoints.0.outages.0",
            "shorter than every",
        ),
        (
            _endpoint(outages=[{"every": "1m", "duration": "1s", "kind": "normal"}]),
            "endpoints.0.outages.0",
            "does nothing",
        ),
        ({"endpoints": [{"id": "a/b"}]}, "endpoints.0.id", "letter or digit"),
        ({"endpoints": [{"id": "_simulator"}]}, "endpoints.0.id", "letter or digit"),
        ({"endpoints": [{"id": "a"}, {"id": "a"}]}, "", "used twice"),
        ({"endpoints": [{"id": "e"}], "port": 70000}, "port", "less than or equal"),
    ],
)
def test_invalid_config_is_rejected_naming_the_key(
    data: dict[str, Any], location: str, message: str
) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        SimulatorConfig.model_validate(data)

    errors = caught.value.errors()
    assert any(
        ".".join(str(part) for part in error["loc"]) == location and message in error["msg"]
        for error in errors
    ), errors
