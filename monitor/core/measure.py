"""Speed, latency, token and cost arithmetic (pure functions; docs/design.md#output-speed)."""

from __future__ import annotations

import math
import re
from typing import Protocol


class Prices(Protocol):
    """A model's prices per million tokens, in USD (the config's ``pricing``)."""

    @property
    def input_per_million(self) -> float: ...
    @property
    def output_per_million(self) -> float: ...
    @property
    def cached_input_per_million(self) -> float | None: ...


_NS = 1_000_000_000
# Roughly how OpenAI's BPE tokenizers (cl100k_base, o200k_base) cut English and numbers: a
# common word (with its leading space), a run of at most three digits (never with the space
# before it: "1 2" is three tokens), one punctuation mark, or a run of whitespace; a long word
# costs about one token per five letters.
_PIECE = re.compile(r"\s?[^\W\d_]+|\d{1,3}|\s?[^\w\s]|\s+")


def output_speed(
    tokens: float | None,
    chunks: int,
    first_ns: int | None,
    last_ns: int | None,
    first_read: int = 1,
) -> float | None:
    """Tokens/s after the first read of content: N·(C−F)/C ÷ (last − first); None for C < 2.

    ``first_read`` (F) is how many content chunks arrived in the first one's read, all stamped
    when the newest of them arrived (1 unless they queued behind it while it was not read)."""
    if tokens is None or chunks < 2 or first_ns is None or last_ns is None or last_ns <= first_ns:
        return None
    return tokens * (chunks - first_read) / chunks / ((last_ns - first_ns) / _NS)


def inter_token_latency(
    tokens: float | None,
    chunks: int,
    first_ns: int | None,
    last_ns: int | None,
    first_read: int = 1,
) -> float | None:
    """Mean seconds per output token after the first read of content: (last − first) ÷
    (N − N·F/C), F as in :func:`output_speed`."""
    if tokens is None or chunks < 2 or first_ns is None or last_ns is None or last_ns <= first_ns:
        return None
    after_first = tokens - tokens * first_read / chunks
    if after_first <= 0:
        return None
    return (last_ns - first_ns) / _NS / after_first


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of how many tokens a text is, for streams without usage."""
    count = 0
    for piece in _PIECE.findall(text):
        stripped = piece.strip()
        count += math.ceil(len(stripped) / 5) if len(stripped) > 7 and stripped.isalpha() else 1
    return count


def probe_cost(
    pricing: Prices | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_input_tokens: int | None = None,
) -> float | None:
    """USD cost of one probe from its usage and the model's prices; None when either is unknown."""
    if pricing is None or input_tokens is None or output_tokens is None:
        return None
    cached = min(cached_input_tokens or 0, input_tokens)
    cached_price = pricing.cached_input_per_million
    if cached_price is None:
        cached_price = pricing.input_per_million
    cost = (
        (input_tokens - cached) * pricing.input_per_million
        + cached * cached_price
        + output_tokens * pricing.output_per_million
    )
    return cost / 1_000_000
