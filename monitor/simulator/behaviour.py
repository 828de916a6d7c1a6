"""What one request gets: its behaviour, timing and text, drawn from an endpoint's config.

Pure functions of (config, random generator, elapsed time): the server turns a ``Plan`` into
bytes on a socket. The generated answer is the one the default probe prompt asks for
("Count from 1 to 40, separated by spaces."), cut into tokens as OpenAI's tokenizers
(cl100k_base, o200k_base) cut it and as a real model streams it: ``"1"``, ``" "``, ``"2"``,
``" "``, ``"3"``... A digit never merges with the space before it, so every number up to 999
and every space is one real token, and a gateway that recounts the text finds the usage count.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.simulator.config import (
    Behaviour,
    DurationDistribution,
    EndpointConfig,
    IntRange,
    OutageConfig,
    RateDistribution,
)

#: Behaviours whose stream stops after ``cut`` content chunks.
CUT_BEHAVIOURS = frozenset(
    {
        Behaviour.HANG_MID_STREAM,
        Behaviour.MID_STREAM_ERROR,
        Behaviour.TRUNCATED,
        Behaviour.MALFORMED_JSON,
    }
)


@dataclass(frozen=True, slots=True)
class Plan:
    """How one generation unfolds, in seconds after the request's first byte arrived."""

    behaviour: Behaviour
    first_byte: float
    ttft: float
    tokens_per_second: float
    chunk_tokens: tuple[int, ...]
    chunk_times: tuple[float, ...]
    finish_reason: str
    cut: int | None

    @property
    def output_tokens(self) -> int:
        """Tokens the full answer has (what a completed stream reports as usage)."""
        return sum(self.chunk_tokens)


def lognormal(median: float, spread: float, rng: random.Random) -> float:
    """``median * exp(spread * N(0, 1))``; exactly ``median`` when spread is 0."""
    if spread <= 0.0:
        return median
    return median * math.exp(spread * rng.gauss(0.0, 1.0))


def sample_duration(dist: DurationDistribution, rng: random.Random) -> float:
    """One draw of a duration distribution, in seconds."""
    return lognormal(dist.median, dist.spread, rng)


def sample_rate(dist: RateDistribution, rng: random.Random) -> float:
    """One draw of a rate distribution."""
    return lognormal(dist.median, dist.spread, rng)


def sample_int(value: IntRange, rng: random.Random) -> int:
    """One uniform draw of an inclusive integer range."""
    if value.min == value.max:
        return value.min
    return rng.randint(value.min, value.max)


#: The largest number that is one token: OpenAI's tokenizers split digits into runs of at most
#: three ("1000" is "100" + "0"), so an answer longer than 1,997 tokens counts from 1 again.
LARGEST_ONE_TOKEN_NUMBER = 999


def token_text(index: int) -> str:
    """The text of output token ``index`` (0-based): ``"1"``, ``" "``, ``"2"``, ``" "``, ``"3"``…"""
    if index % 2:
        return " "
    return str(index // 2 % LARGEST_ONE_TOKEN_NUMBER + 1)


@functools.lru_cache(maxsize=1024)
def chunk_texts(chunk_tokens: tuple[int, ...]) -> tuple[str, ...]:
    """The text of each chunk, given how many tokens each carries (cached: plans repeat)."""
    texts: list[str] = []
    index = 0
    for count in chunk_tokens:
        texts.append("".join(token_text(i) for i in range(index, index + count)))
        index += count
    return tuple(texts)


def split_tokens(total: int, per_chunk: IntRange, rng: random.Random) -> tuple[int, ...]:
    """Cut ``total`` tokens into chunks of ``per_chunk`` tokens (the last one may be smaller)."""
    if per_chunk.min == per_chunk.max:
        size = per_chunk.min
        whole, rest = divmod(total, size)
        return (size,) * whole + ((rest,) if rest else ())
    chunks: list[int] = []
    left = total
    while left > 0:
        size = min(left, sample_int(per_chunk, rng))
        chunks.append(size)
        left -= size
    return tuple(chunks)


def outage_kind(outages: Sequence[OutageConfig], elapsed: float) -> Behaviour | None:
    """The behaviour of the first outage in force ``elapsed`` seconds after start-up."""
    for outage in outages:
        since = elapsed - outage.offset
        if since >= 0.0 and math.fmod(since, outage.every) < outage.duration:
            return outage.kind
    return None


def choose_behaviour(
    *,
    forced: Behaviour | None,
    endpoint: EndpointConfig,
    weights: Mapping[Behaviour, float],
    elapsed: float,
    rng: random.Random,
) -> Behaviour:
    """Forced mode, then a scheduled outage, then a per-request fault draw, else normal."""
    if forced is not None:
        return forced
    if endpoint.mode is not Behaviour.NORMAL:
        return endpoint.mode
    scheduled = outage_kind(endpoint.outages, elapsed)
    if scheduled is not None:
        return scheduled
    if weights:
        draw = rng.random()
        for behaviour, probability in weights.items():
            if draw < probability:
                return behaviour
            draw -= probability
    return Behaviour.NORMAL


def plan_generation(
    endpoint: EndpointConfig,
    behaviour: Behaviour,
    *,
    max_tokens: int | None,
    rng: random.Random,
) -> Plan:
    """Draw the timing and length of one answer under ``behaviour``."""
    ttft = sample_duration(endpoint.ttft, rng)
    tps = sample_rate(endpoint.tokens_per_second, rng)
    natural = sample_int(endpoint.output_tokens, rng)
    total = natural if max_tokens is None else min(natural, max_tokens)
    finish_reason = "length" if total < natural else "stop"
    if behaviour is Behaviour.EMPTY:
        total, finish_reason = 0, "stop"
    elif behaviour is Behaviour.CONTENT_FILTER:
        total, finish_reason = max(1, total // 2), "content_filter"
    chunk_tokens = split_tokens(total, endpoint.tokens_per_chunk, rng)
    chunk_times = _chunk_times(
        chunk_tokens, ttft, tps, endpoint.burst.chunks if endpoint.burst else 1
    )
    cut = None
    if behaviour in CUT_BEHAVIOURS:
        count = len(chunk_tokens)
        cut = max(1, min(count, round(count * endpoint.cut_after_fraction))) if count else 0
    return Plan(
        behaviour=behaviour,
        first_byte=ttft * endpoint.first_byte_fraction,
        ttft=ttft,
        tokens_per_second=tps,
        chunk_tokens=chunk_tokens,
        chunk_times=chunk_times,
        finish_reason=finish_reason,
        cut=cut,
    )


def _chunk_times(
    chunk_tokens: Sequence[int], ttft: float, tps: float, burst: int
) -> tuple[float, ...]:
    """When each chunk is ready: the first at ``ttft``, then one token every ``1/tps``.

    With buffered (burst) delivery a chunk waits until the last chunk of its group is ready.
    """
    ready: list[float] = []
    produced = 0
    for index, count in enumerate(chunk_tokens):
        if index:
            produced += count
        ready.append(ttft + produced / tps)
    if burst <= 1:
        return tuple(ready)
    last = len(ready) - 1
    return tuple(ready[min(last, (i // burst + 1) * burst - 1)] for i in range(len(ready)))


#: The pieces OpenAI's tokenizers cut text into before merging bytes (o200k_base's pre-tokenizer
#: pattern, the one of the gpt-4o and gpt-4.1 models simulated here, in ``re`` terms): a word
#: with the space or mark before it and an English contraction after it, a run of up to three
#: digits, a run of punctuation, a run of whitespace. A common English word is one token, a rare
#: or long one several, so counting pieces is a close floor of the real count.
_PIECES = re.compile(
    r"[^\r\n\w]?[^\W\d_]+(?:'(?i:[sdmt]|ll|ve|re))?"  # a word, as in " word" or "What's"
    r"|\d{1,3}"  # up to three digits, never with a space
    r"| ?[^\s\w]+[\r\n/]*"  # punctuation
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"  # line breaks, then spaces
)


def count_words(text: str) -> int:
    """How many tokens ``text`` is when every word, number (of up to three digits), run of
    punctuation and run of spaces is one token: exact for everyday English and for numbers."""
    return len(_PIECES.findall(text))


def estimate_prompt_tokens(texts: Sequence[str]) -> int:
    """The prompt tokens of a chat: each message's words plus its framing (4 tokens: start,
    role, separator, end) and 3 for the assistant's reply header, as OpenAI counts chats."""
    return 3 + sum(4 + count_words(text) for text in texts)
