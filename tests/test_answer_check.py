"""The answer check (docs/design.md#answer-check) and the time to first answer token, against
the simulator over loopback: a stream cut short but closed with ``finish_reason: stop`` and
``[DONE]`` (or a clean ``response.completed``) is ``wrong_answer``; a whole count is a success;
``expect`` decides on both APIs; an answer cut by the probe's own ``max_tokens`` is not judged;
and a reasoning phase (streamed, as a Responses API summary, or hidden) puts the answer TTFT
where the simulator sent the first answer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import yaml

from monitor.config import Endpoint, parse_config
from monitor.core.answer import check_answer
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner
from monitor.simulator import Simulator, SimulatorConfig

#: The simulator is shared by the module's tests, so they run on its event loop.
ON_SIM_LOOP = pytest.mark.asyncio(loop_scope="module")

KEY = "sk-answer-check-0123456789"
REASONING = {"tokens": 60, "style": "reasoning_content"}
SIM_ENDPOINTS: list[dict[str, Any]] = [
    {"id": "whole"},
    {"id": "cut", "mode": "premature_stop"},
    {"id": "thinks", "reasoning": REASONING},
    {"id": "thinks-openrouter", "reasoning": {**REASONING, "style": "reasoning"}},
    {"id": "thinks-hidden", "reasoning": {**REASONING, "style": "hidden"}},
]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig.model_validate(
        {
            "port": 0,
            "endpoints": [
                {"api_key": KEY, "ttft": "40ms", "tokens_per_second": 400, **e}
                for e in SIM_ENDPOINTS
            ],
        }
    )
    async with Simulator(config) as simulator:
        yield simulator


def _endpoint(sim: Simulator, sim_id: str, **extra: Any) -> Endpoint:
    raw = {
        "probe": {"timeout": "5s", "jitter": 0, **extra.pop("probe", {})},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [{"id": "e", "model": "gpt-4.1-nano", "provider": "openai",
                       "base_url": sim.endpoint_url(sim_id), "api_key_env": "K", **extra}],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": KEY}).endpoints[0]


async def _probe(endpoint: Endpoint) -> ProbeResult:
    runner = ProbeRunner()
    try:
        return await runner.probe(endpoint)
    finally:
        await runner.aclose()


@pytest.mark.parametrize("api", ["chat_completions", "responses"])
@ON_SIM_LOOP
async def test_a_count_cut_short_but_closed_as_finished_is_a_wrong_answer(
    sim: Simulator, api: str
) -> None:
    result = await _probe(_endpoint(sim, "cut", api=api))
    assert result.outcome is Outcome.WRONG_ANSWER
    assert result.finish_reason == "stop"
    assert result.error is not None
    assert result.error.startswith(
        "the answer stops at 20 of the count to 40 (finish_reason stop): '1 2 3"
    )
    assert result.error.endswith("18 19 20'")
    # It still measured what came: a wrong answer is down for uptime, not unmeasured.
    assert result.ttft_seconds is not None and result.output_tokens == 40


@pytest.mark.parametrize("api", ["chat_completions", "responses"])
@ON_SIM_LOOP
async def test_a_whole_count_is_a_success(sim: Simulator, api: str) -> None:
    result = await _probe(_endpoint(sim, "whole", api=api))
    assert result.outcome is Outcome.SUCCESS and result.error is None
    assert result.output_tokens == 79 and result.finish_reason == "stop"


@ON_SIM_LOOP
async def test_an_answer_cut_by_the_probes_own_max_tokens_is_not_judged(sim: Simulator) -> None:
    result = await _probe(_endpoint(sim, "whole", max_tokens=20))
    assert result.outcome is Outcome.SUCCESS and result.finish_reason == "length"


@pytest.mark.parametrize("api", ["chat_completions", "responses"])
@ON_SIM_LOOP
async def test_expect_decides_on_both_apis(sim: Simulator, api: str) -> None:
    ok = await _probe(_endpoint(sim, "whole", api=api, expect=r"\b39 40$"))
    assert ok.outcome is Outcome.SUCCESS
    wrong = await _probe(_endpoint(sim, "whole", api=api, expect=r"^banana"))
    assert wrong.outcome is Outcome.WRONG_ANSWER
    assert wrong.error is not None
    assert wrong.error.startswith("the answer does not match expect '^banana' (finish_reason stop)")
    # expect wins over the count: a cut answer that matches passes.
    cut = await _probe(_endpoint(sim, "cut", api=api, expect=r"\b20\b"))
    assert cut.outcome is Outcome.SUCCESS


@ON_SIM_LOOP
async def test_a_prompt_without_a_count_and_without_expect_is_not_judged(sim: Simulator) -> None:
    result = await _probe(_endpoint(sim, "cut", prompt="Write a short poem."))
    assert result.outcome is Outcome.SUCCESS


def test_a_bad_expect_is_a_config_error_naming_the_key() -> None:
    raw = {
        "probe": {"expect": "(unclosed"},
        "models": [{"id": "m"}],
        "endpoints": [{"id": "e", "model": "m", "provider": "openai",
                       "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"}],
    }  # fmt: skip
    with pytest.raises(Exception, match=r"probe\.expect: .*not a regular expression"):
        parse_config(yaml.safe_dump(raw), environ={"K": KEY})


@pytest.mark.parametrize(
    ("text", "finish", "wrong"),
    [
        ("1 2 3 4 5", "stop", True),
        ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10", "stop", False),  # another separator still counts
        ("", "stop", True),
        ("1 2 3", "length", False),  # cut by max_tokens: not judged
        ("1 2 3", None, True),
    ],
)
def test_the_count_check(text: str, finish: str | None, wrong: bool) -> None:
    error = check_answer(text, finish, prompt="Count from 1 to 10, separated by spaces.")
    assert (error is not None) == wrong


@pytest.mark.serial  # answer TTFT against the simulator's send times, to 20 ms
@pytest.mark.parametrize(
    ("sim_id", "api"),
    [
        ("thinks", "chat_completions"),
        ("thinks-openrouter", "chat_completions"),
        ("thinks", "responses"),
        ("thinks-hidden", "chat_completions"),
    ],
)
@ON_SIM_LOOP
async def test_answer_ttft_is_where_the_simulator_sent_the_first_answer_token(
    sim: Simulator, sim_id: str, api: str
) -> None:
    # Room for the reasoning and the whole count (reasoning counts against max_tokens).
    result = await _probe(_endpoint(sim, sim_id, api=api, max_tokens=200))
    assert result.outcome is Outcome.SUCCESS, result.error
    truth = sim.truth(result.provider_request_id or "")
    assert truth is not None and truth.answer_ttft_seconds is not None
    assert result.ttft_seconds is not None and result.answer_ttft_seconds is not None
    assert truth.ttft_seconds is not None
    # 60 reasoning tokens at 400 tok/s: the answer starts 150 ms after the first token (hidden:
    # the first token is the answer's, 150 ms later than without reasoning).
    assert result.ttft_seconds == pytest.approx(truth.ttft_seconds, abs=0.02)
    assert result.answer_ttft_seconds == pytest.approx(truth.answer_ttft_seconds, abs=0.02)
    if sim_id == "thinks-hidden":
        assert result.answer_ttft_seconds == result.ttft_seconds
        assert result.ttft_seconds >= 0.04 + 0.15 - 0.005
    else:
        assert result.answer_ttft_seconds - result.ttft_seconds == pytest.approx(0.15, abs=0.03)
    assert result.reasoning_tokens == 60 and result.output_tokens == 60 + 79
