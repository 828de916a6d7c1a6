"""Planning one answer: text, chunking, timing, caps, and which behaviour a request gets."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.simulator import Behaviour, SimulatorConfig
from monitor.simulator.behaviour import (
    DEFAULT_ANSWER_TOKENS,
    MODEL_OUTPUT_LIMIT,
    choose_behaviour,
    chunk_texts,
    count_asked,
    count_tokens,
    lognormal,
    outage_kind,
    plan_generation,
    split_tokens,
    token_text,
)
from monitor.simulator.config import EndpointConfig, IntRange


def endpoint(**fields: Any) -> EndpointConfig:
    return SimulatorConfig.model_validate({"endpoints": [{"id": "e", **fields}]}).endpoints[0]


def test_answer_counts_from_one_with_numbers_and_spaces_as_separate_tokens() -> None:
    assert [token_text(i) for i in range(5)] == ["1", " ", "2", " ", "3"]
    assert chunk_texts((3, 1, 3)) == ("1 2", " ", "3 4")


def test_numbers_past_999_go_on_in_runs_of_three_digits() -> None:
    # As OpenAI's tokenizers cut them: "1000" is "100" + "0", "12345" is "123" + "45".
    assert [token_text(i) for i in range(1994, 2003)] == [
        "998", " ", "999", " ", "100", "0", " ", "100", "1",
    ]  # fmt: skip
    assert token_text(count_tokens(12344) + 1) == "123"
    assert token_text(count_tokens(12344) + 2) == "45"


@pytest.mark.parametrize("n", [1, 2, 40, 999, 1000, 1001, 10_500, 123_456])
def test_count_tokens_is_the_length_of_the_count(n: int) -> None:
    text = "".join(token_text(i) for i in range(count_tokens(n)))

    assert text == " ".join(str(k) for k in range(1, n + 1))
    assert count_tokens(n) == 2 * n - 1 or n > 999


@given(total=st.integers(0, 300), low=st.integers(1, 5), extra=st.integers(0, 5))
def test_chunks_carry_every_token_within_the_range(total: int, low: int, extra: int) -> None:
    chunks = split_tokens(total, IntRange(min=low, max=low + extra), random.Random(1))

    assert sum(chunks) == total
    assert all(1 <= size <= low + extra for size in chunks)
    assert all(size >= low for size in chunks[:-1])


def test_chunks_follow_ttft_then_one_token_every_period() -> None:
    plan = plan_generation(
        endpoint(ttft="200ms", tokens_per_second=50, output_tokens=5),
        Behaviour.NORMAL,
        max_tokens=None,
        rng=random.Random(0),
    )

    assert plan.chunk_times == pytest.approx((0.2, 0.22, 0.24, 0.26, 0.28))
    assert plan.first_byte == pytest.approx(0.1)
    assert plan.finish_reason == "stop"


def test_multi_token_chunks_keep_the_token_rate() -> None:
    plan = plan_generation(
        endpoint(ttft=0, tokens_per_second=100, output_tokens=9, tokens_per_chunk=3),
        Behaviour.NORMAL,
        max_tokens=None,
        rng=random.Random(0),
    )

    assert plan.chunk_tokens == (3, 3, 3)
    assert plan.chunk_times == pytest.approx((0.0, 0.03, 0.06))


def test_burst_delivery_releases_chunks_in_groups() -> None:
    plan = plan_generation(
        endpoint(ttft=0, tokens_per_second=10, output_tokens=5, burst={"chunks": 2}),
        Behaviour.NORMAL,
        max_tokens=None,
        rng=random.Random(0),
    )

    assert plan.chunk_times == pytest.approx((0.1, 0.1, 0.3, 0.3, 0.4))


def test_max_tokens_caps_the_answer_with_finish_reason_length() -> None:
    plan = plan_generation(
        endpoint(output_tokens=40), Behaviour.NORMAL, max_tokens=7, rng=random.Random(0)
    )

    assert plan.output_tokens == 7
    assert plan.finish_reason == "length"


def test_empty_sends_no_content_and_content_filter_half() -> None:
    config = endpoint(output_tokens=10)
    empty = plan_generation(config, Behaviour.EMPTY, max_tokens=None, rng=random.Random(0))
    filtered = plan_generation(
        config, Behaviour.CONTENT_FILTER, max_tokens=None, rng=random.Random(0)
    )

    assert (empty.output_tokens, empty.finish_reason) == (0, "stop")
    assert (filtered.output_tokens, filtered.finish_reason) == (5, "content_filter")


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour.HANG_MID_STREAM,
        Behaviour.MID_STREAM_ERROR,
        Behaviour.TRUNCATED,
        Behaviour.MALFORMED_JSON,
    ],
)
def test_cut_behaviours_stop_part_way(behaviour: Behaviour) -> None:
    plan = plan_generation(
        endpoint(output_tokens=10, cut_after_fraction=0.3),
        behaviour,
        max_tokens=None,
        rng=random.Random(0),
    )

    assert plan.cut == 3


@pytest.mark.parametrize(
    ("prompt", "n"),
    [
        ("Count from 1 to 40, separated by spaces.", 40),
        ("[probe 0123456789ab] \nCount from 1 to 40, separated by spaces.", 40),
        ("please COUNT FROM 1 TO 7", 7),
        ("count  from 1\nto 12.", 12),
        ("Count from 1 to 0.", None),
        ("Count from 2 to 9.", None),
        ("Count from 1 to 1234567890123.", None),
        ("Recount from 1 to 5", None),
        ("Say hello.", None),
    ],
)
def test_the_count_a_prompt_asks_for(prompt: str, n: int | None) -> None:
    assert count_asked(prompt) == n


def test_the_answer_length_is_the_prompts_count_unless_output_tokens_is_set() -> None:
    def length(count_to: int | None, **fields: Any) -> int:
        config = endpoint(**fields)
        plan = plan_generation(
            config, Behaviour.NORMAL, max_tokens=None, rng=random.Random(0), count_to=count_to
        )
        return plan.output_tokens

    assert length(40) == 79
    assert length(3) == 5
    assert length(None) == DEFAULT_ANSWER_TOKENS
    assert length(40, output_tokens=9) == length(None, output_tokens=9) == 9


def test_a_count_beyond_the_model_output_limit_stops_there() -> None:
    plan = plan_generation(
        endpoint(tokens_per_chunk=1000),
        Behaviour.NORMAL,
        max_tokens=None,
        rng=random.Random(0),
        count_to=1_000_000,
    )

    assert (plan.output_tokens, plan.finish_reason) == (MODEL_OUTPUT_LIMIT, "length")


def test_reasoning_comes_first_and_uses_up_the_budget_first() -> None:
    config = endpoint(ttft=0, tokens_per_second=100, reasoning={"tokens": 10})
    whole = plan_generation(config, Behaviour.NORMAL, max_tokens=None, rng=random.Random(0))
    cut = plan_generation(config, Behaviour.NORMAL, max_tokens=14, rng=random.Random(0))
    spent = plan_generation(config, Behaviour.NORMAL, max_tokens=8, rng=random.Random(0))

    assert (whole.reasoning_chunks, whole.reasoning_tokens, whole.output_tokens) == (10, 10, 89)
    assert whole.texts()[:3] == (" The", " user", " wants")
    assert whole.texts()[10:13] == ("1", " ", "2")
    assert whole.chunk_times[10] == pytest.approx(0.1)  # right after the reasoning, same pace
    assert (cut.reasoning_tokens, cut.output_tokens, cut.finish_reason) == (10, 14, "length")
    assert (spent.reasoning_tokens, spent.output_tokens, spent.finish_reason) == (8, 8, "length")


def test_hidden_reasoning_is_counted_but_not_streamed() -> None:
    config = endpoint(
        ttft="100ms", tokens_per_second=100, reasoning={"tokens": 20, "style": "hidden"}
    )
    plan = plan_generation(config, Behaviour.NORMAL, max_tokens=None, rng=random.Random(0))

    assert (plan.reasoning_chunks, plan.reasoning_tokens, plan.output_tokens) == (0, 20, 99)
    assert plan.texts()[0] == "1"
    assert plan.ttft == plan.chunk_times[0] == pytest.approx(0.1 + 20 / 100)
    assert plan.first_byte == pytest.approx(0.05)  # headers do not wait for the reasoning


def test_premature_stop_keeps_part_of_the_answer_and_says_stop() -> None:
    config = endpoint(cut_after_fraction=0.25, reasoning={"tokens": 6})
    plan = plan_generation(config, Behaviour.PREMATURE_STOP, max_tokens=None, rng=random.Random(0))
    short = plan_generation(
        endpoint(cut_after_fraction=0.0), Behaviour.PREMATURE_STOP, max_tokens=None,
        rng=random.Random(0),
    )  # fmt: skip
    almost = plan_generation(
        endpoint(cut_after_fraction=1.0), Behaviour.PREMATURE_STOP, max_tokens=10,
        rng=random.Random(0),
    )  # fmt: skip

    # The reasoning whole, then 20 of the answer's 79 chunks ("1 " ... "10 ").
    assert (plan.reasoning_tokens, plan.output_tokens, plan.finish_reason) == (6, 26, "stop")
    assert "".join(plan.texts()[6:]) == "1 2 3 4 5 6 7 8 9 10 "
    assert plan.cut is None
    # At least one chunk of the answer goes out, and at least one is missing, whatever the
    # fraction (and whatever cut it first: max_tokens here, yet the finish says "stop").
    assert short.output_tokens == 1
    assert (almost.output_tokens, almost.finish_reason) == (9, "stop")


def test_the_ttft_grows_with_the_prompt_tokens() -> None:
    config = endpoint(ttft="100ms", ttft_per_1k_input_tokens="50ms", first_byte_fraction=0.5)
    plan = plan_generation(
        config, Behaviour.NORMAL, max_tokens=None, rng=random.Random(0), prompt_tokens=10_000
    )
    plain = plan_generation(config, Behaviour.NORMAL, max_tokens=None, rng=random.Random(0))

    assert plan.ttft == plan.chunk_times[0] == pytest.approx(0.6)
    assert plan.first_byte == pytest.approx(0.3)
    assert plain.ttft == pytest.approx(0.1)


def test_spread_zero_is_a_constant_and_spread_varies_around_the_median() -> None:
    rng = random.Random(3)
    draws = sorted(lognormal(0.5, 0.3, rng) for _ in range(2001))

    assert lognormal(0.5, 0.0, rng) == 0.5
    assert draws[1000] == pytest.approx(0.5, rel=0.05)
    assert draws[0] < 0.4 < 0.6 < draws[-1]


def test_forced_mode_wins_over_config_mode_outage_and_faults() -> None:
    config = endpoint(
        mode="empty",
        faults={"server_error": 1.0},
        outages=[{"every": "1m", "duration": "30s", "kind": "reset"}],
    )
    weights = config.faults.weights()
    rng = random.Random(0)

    assert (
        choose_behaviour(
            forced=Behaviour.DRIP, endpoint=config, weights=weights, elapsed=0, rng=rng
        )
        is Behaviour.DRIP
    )
    assert (
        choose_behaviour(forced=None, endpoint=config, weights=weights, elapsed=0, rng=rng)
        is Behaviour.EMPTY
    )


def test_outage_wins_over_faults_only_inside_its_window() -> None:
    config = endpoint(
        faults={"rate_limited": 1.0},
        outages=[{"every": "10s", "duration": "2s", "offset": "1s", "kind": "server_error"}],
    )
    weights = config.faults.weights()

    def at(elapsed: float) -> Behaviour:
        return choose_behaviour(
            forced=None, endpoint=config, weights=weights, elapsed=elapsed, rng=random.Random(0)
        )

    assert [at(t) for t in (0.5, 1.5, 2.9, 3.1, 11.5, 13.5)] == [
        Behaviour.RATE_LIMITED,
        Behaviour.SERVER_ERROR,
        Behaviour.SERVER_ERROR,
        Behaviour.RATE_LIMITED,
        Behaviour.SERVER_ERROR,
        Behaviour.RATE_LIMITED,
    ]
    assert outage_kind(config.outages, 0.99) is None


def test_fault_draws_match_their_probabilities() -> None:
    config = endpoint(faults={"server_error": 0.2, "truncated": 0.1})
    weights = config.faults.weights()
    rng = random.Random(11)
    draws = [
        choose_behaviour(forced=None, endpoint=config, weights=weights, elapsed=0, rng=rng)
        for _ in range(10_000)
    ]

    assert draws.count(Behaviour.SERVER_ERROR) == pytest.approx(2000, abs=150)
    assert draws.count(Behaviour.TRUNCATED) == pytest.approx(1000, abs=100)
    assert draws.count(Behaviour.NORMAL) == pytest.approx(7000, abs=150)


def test_same_seed_gives_the_same_plans() -> None:
    config = endpoint(
        ttft={"median": "300ms", "spread": 0.5},
        tokens_per_second={"median": 80, "spread": 0.3},
        tokens_per_chunk=[1, 4],
        output_tokens=[20, 60],
    )

    def plans(seed: int) -> list[tuple[float, tuple[int, ...]]]:
        rng = random.Random(seed)
        out = []
        for _ in range(20):
            plan = plan_generation(config, Behaviour.NORMAL, max_tokens=None, rng=rng)
            out.append((plan.ttft, plan.chunk_tokens))
        return out

    assert plans(5) == plans(5)
    assert plans(5) != plans(6)
