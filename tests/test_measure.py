"""Speed, latency, token and cost arithmetic (docs/design.md#output-speed)."""

from __future__ import annotations

import pytest

from monitor.config import Pricing
from monitor.core.measure import estimate_tokens, inter_token_latency, output_speed, probe_cost

MS = 1_000_000


@pytest.mark.parametrize(
    ("tokens", "chunks", "first", "last", "expected"),
    [
        # 40 tokens, one per chunk, 39 after the first over 390 ms: 100 tok/s.
        (40, 40, 0, 390 * MS, 100.0),
        # The same 40 tokens in 10 chunks of 4: 36 tokens after the first chunk over 360 ms.
        (40, 10, 0, 360 * MS, 100.0),
        # Two chunks of 5 tokens, 50 ms apart: the 5 after the first in 50 ms.
        (10, 2, 100 * MS, 150 * MS, 100.0),
    ],
    ids=["one-token-chunks", "four-token-chunks", "two-chunks"],
)
def test_output_speed_counts_tokens_after_the_first_chunk(
    tokens: int, chunks: int, first: int, last: int, expected: float
) -> None:
    assert output_speed(tokens, chunks, first, last) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("tokens", "chunks", "first", "last"),
    [(10, 1, 0, 0), (10, 0, None, None), (None, 5, 0, MS), (10, 3, 5 * MS, 5 * MS)],
    ids=["single-chunk", "no-chunks", "unknown-tokens", "zero-duration"],
)
def test_output_speed_is_undefined_without_two_separate_chunks(
    tokens: int | None, chunks: int, first: int | None, last: int | None
) -> None:
    assert output_speed(tokens, chunks, first, last) is None
    assert inter_token_latency(tokens, chunks, first, last) is None


def test_chunks_that_came_in_the_first_read_count_as_arriving_with_it() -> None:
    # 40 tokens in 20 chunks; the first 5 reached the process in one read at t=0 (queued behind
    # the first while it was not read, stamped with the newest's arrival); the other 15 chunks
    # (30 tokens) arrived over the next 0.3 s: 100 tok/s, not 38/0.3.
    second = 1_000_000_000
    assert output_speed(40, 20, 0, int(0.3 * second), first_read=5) == pytest.approx(100.0)
    assert inter_token_latency(40, 20, 0, int(0.3 * second), first_read=5) == pytest.approx(0.01)
    # One read held everything: no speed.
    assert output_speed(40, 20, 0, 0, first_read=20) is None


def test_inter_token_latency_is_the_inverse_of_speed() -> None:
    # 40 tokens in 10 chunks over 360 ms: 36 tokens after the first chunk -> 10 ms each.
    assert inter_token_latency(40, 10, 0, 360 * MS) == pytest.approx(0.010)
    speed = output_speed(40, 10, 0, 360 * MS)
    assert speed is not None
    assert 1 / speed == pytest.approx(0.010)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        # 40 numbers and the 39 spaces between them, as OpenAI's tokenizers count them
        (" ".join(str(i) for i in range(1, 41)), 79, 79),
        ("1 2\n\n3  four", 7, 7),
        ("Hello, world!", 3, 5),
        ("", 0, 0),
        ("antidisestablishmentarianism", 5, 9),
    ],
    ids=["counting", "spaces-and-lines", "greeting", "empty", "long-word"],
)
def test_token_estimate_is_close_to_a_bpe_tokenizer(text: str, low: int, high: int) -> None:
    assert low <= estimate_tokens(text) <= high


def test_probe_cost_uses_cached_price_for_cached_tokens() -> None:
    pricing = Pricing(
        input_per_million=0.10, output_per_million=0.40, cached_input_per_million=0.025
    )
    cost = probe_cost(pricing, input_tokens=1000, output_tokens=100, cached_input_tokens=400)
    assert cost == pytest.approx((600 * 0.10 + 400 * 0.025 + 100 * 0.40) / 1e6)


def test_probe_cost_is_unknown_without_usage_or_pricing() -> None:
    pricing = Pricing(input_per_million=0.10, output_per_million=0.40)
    assert probe_cost(pricing, None, 10) is None
    assert probe_cost(None, 10, 10) is None
    assert probe_cost(pricing, 20, 40) == pytest.approx((20 * 0.10 + 40 * 0.40) / 1e6)
