"""What one request gets: its behaviour, timing and text, drawn from an endpoint's config.

Pure functions of (config, random generator, elapsed time): the server turns a ``Plan`` into
bytes on a socket. The generated answer is the count the prompt asks for ("Count from 1 to N",
as the monitor's default prompt "Count from 1 to 40, separated by spaces." does), cut into
tokens as OpenAI's tokenizers (cl100k_base, o200k_base) cut it and as a real model streams it:
``"1"``, ``" "``, ``"2"``, ``" "``, ``"3"``... A digit never merges with the space before it
and a number is split into runs of up to three digits, so every piece is one real token, and a
gateway that recounts the text finds the usage count. A reasoning phase, when configured, comes
first, as plain English words that are one token each.
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

#: Behaviours whose stream stops after ``cut`` content chunks. ``premature_stop`` is not one of
#: them: it shortens the plan itself, so that its finish and usage describe what was sent.
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
    #: How many of the first chunks are streamed reasoning (the answer's chunks follow).
    reasoning_chunks: int = 0
    #: Reasoning tokens generated but not streamed (``hidden``): in the usage only.
    hidden_reasoning_tokens: int = 0
    #: ``reasoning_content``, ``reasoning`` or ``hidden``; None without reasoning.
    reasoning_style: str | None = None

    @property
    def output_tokens(self) -> int:
        """Tokens the full answer has, reasoning included (what a completed stream reports as
        usage)."""
        return sum(self.chunk_tokens) + self.hidden_reasoning_tokens

    @property
    def reasoning_tokens(self) -> int:
        """Reasoning tokens, streamed or not."""
        return sum(self.chunk_tokens[: self.reasoning_chunks]) + self.hidden_reasoning_tokens

    def texts(self) -> tuple[str, ...]:
        """Each chunk's text: reasoning words, then the count."""
        k = self.reasoning_chunks
        return reasoning_texts(self.chunk_tokens[:k]) + chunk_texts(self.chunk_tokens[k:])


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


#: The longest run of digits that is one token: OpenAI's tokenizers split a number into runs of
#: up to three digits from the left ("1000" is "100" + "0", "12345" is "123" + "45"), and every
#: such run (leading zeros included) is a single token.
DIGITS_PER_TOKEN = 3


def _number_tokens(digits: int) -> int:
    """How many tokens a number of ``digits`` digits is."""
    return -(-digits // DIGITS_PER_TOKEN)


def count_tokens(n: int) -> int:
    """How many tokens the count "1 2 … n" is: each number's digit runs and the spaces between
    (2n - 1 up to 999)."""
    if n < 1:
        return 0
    total = 0
    digits = 1
    while 10 ** (digits - 1) <= n:
        first = 10 ** (digits - 1)
        numbers = min(n, 10**digits - 1) - first + 1
        total += numbers * (_number_tokens(digits) + 1)
        digits += 1
    return total - 1


def token_text(index: int) -> str:
    """The text of output token ``index`` (0-based) of the count: ``"1"``, ``" "``, ``"2"``…,
    with numbers past 999 in runs of three digits (``"100"``, ``"0"`` for 1000)."""
    digits = 1
    while True:
        first = 10 ** (digits - 1)
        per_number = _number_tokens(digits) + 1  # its digit runs and the space after it
        block = (10**digits - first) * per_number
        if index < block:
            number, offset = divmod(index, per_number)
            if offset == per_number - 1:
                return " "
            start = offset * DIGITS_PER_TOKEN
            return str(first + number)[start : start + DIGITS_PER_TOKEN]
        index -= block
        digits += 1


@functools.lru_cache(maxsize=1024)
def chunk_texts(chunk_tokens: tuple[int, ...]) -> tuple[str, ...]:
    """The text of each chunk, given how many tokens each carries (cached: plans repeat)."""
    texts: list[str] = []
    index = 0
    for count in chunk_tokens:
        texts.append("".join(token_text(i) for i in range(index, index + count)))
        index += count
    return tuple(texts)


#: Reasoning, word by word: each is one real token (a space and a common word).
_THOUGHT = (
    " The", " user", " wants", " me", " to", " count", " from", " one", " to", " forty",
    ",", " separated", " by", " spaces", ".", " Let", " me", " write", " the", " numbers",
    " in", " order", " and", " check", " that", " none", " is", " missing", ".",
)  # fmt: skip


@functools.lru_cache(maxsize=1024)
def reasoning_texts(chunk_tokens: tuple[int, ...]) -> tuple[str, ...]:
    """The text of each reasoning chunk (``chunk_tokens`` tokens each), cycling through
    ``_THOUGHT``."""
    texts: list[str] = []
    index = 0
    for count in chunk_tokens:
        texts.append("".join(_THOUGHT[i % len(_THOUGHT)] for i in range(index, index + count)))
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


#: The natural answer to a prompt that does not ask to count: as long as the default one's.
DEFAULT_ANSWER_TOKENS = 79
#: The most tokens (reasoning and answer) the simulated models generate for one request when the
#: prompt sets the length (gpt-4.1's output limit): a longer count stops there, finish ``length``.
MODEL_OUTPUT_LIMIT = 32_768

#: The counting prompt's request, in any case: "Count from 1 to 40, separated by spaces."
_COUNT = re.compile(r"\bcount\s+from\s+1\s+to\s+(\d{1,12})(?!\d)", re.IGNORECASE)


def count_asked(prompt: str) -> int | None:
    """N when ``prompt`` asks to count from 1 to N (N >= 1), else None."""
    found = _COUNT.search(prompt)
    if found is None:
        return None
    n = int(found.group(1))
    return n if n >= 1 else None


def natural_tokens(endpoint: EndpointConfig, count_to: int | None, rng: random.Random) -> int:
    """The answer's length before any limit: ``output_tokens`` when set, else the count the
    prompt asks for ("1 2 … N" is 2N - 1 tokens up to 999), else ``DEFAULT_ANSWER_TOKENS``."""
    if endpoint.output_tokens is not None:
        return sample_int(endpoint.output_tokens, rng)
    if count_to is not None and count_to >= 1:
        return count_tokens(count_to)
    return DEFAULT_ANSWER_TOKENS


def plan_generation(
    endpoint: EndpointConfig,
    behaviour: Behaviour,
    *,
    max_tokens: int | None,
    rng: random.Random,
    count_to: int | None = None,
    prompt_tokens: int = 0,
) -> Plan:
    """Draw the timing and length of one answer under ``behaviour``: any reasoning first, then
    the answer, all at one speed; reasoning counts against ``max_tokens`` as on real models."""
    ttft = sample_duration(endpoint.ttft, rng)
    ttft += prompt_tokens / 1000 * endpoint.ttft_per_1k_input_tokens
    tps = sample_rate(endpoint.tokens_per_second, rng)
    natural = natural_tokens(endpoint, count_to, rng)
    if endpoint.output_tokens is None:  # the prompt sets the length: the model's limit applies
        max_tokens = min(max_tokens or MODEL_OUTPUT_LIMIT, MODEL_OUTPUT_LIMIT)
    reasoning = endpoint.reasoning
    thought = sample_int(reasoning.tokens, rng) if reasoning is not None else 0
    if max_tokens is not None:
        thought = min(thought, max_tokens)
    room = None if max_tokens is None else max_tokens - thought
    total = natural if room is None else min(natural, room)
    finish_reason = "length" if total < natural else "stop"
    if behaviour is Behaviour.EMPTY:
        total, thought, finish_reason = 0, 0, "stop"
    elif behaviour is Behaviour.CONTENT_FILTER:
        total, finish_reason = max(1, total // 2), "content_filter"
    hidden = reasoning is not None and reasoning.style == "hidden"
    thinking = () if hidden else split_tokens(thought, endpoint.tokens_per_chunk, rng)
    answer = split_tokens(total, endpoint.tokens_per_chunk, rng)
    chunk_tokens = thinking + answer
    # Hidden reasoning takes its time before the first (answer) chunk.
    start = ttft + (thought / tps if hidden else 0.0)
    chunk_times = _chunk_times(
        chunk_tokens,
        start,
        tps,
        endpoint.burst.chunks if endpoint.burst else 1,
        endpoint.pause_after_first_chunk,
    )
    cut = None
    if behaviour in CUT_BEHAVIOURS:
        count = len(chunk_tokens)
        cut = max(1, min(count, round(count * endpoint.cut_after_fraction))) if count else 0
    elif behaviour is Behaviour.PREMATURE_STOP and answer:
        # Cut short, then finished as if whole: keep part of the answer, at least one chunk
        # of it, and say "stop".
        keep = len(thinking) + max(
            1, min(len(answer) - 1, round(len(answer) * endpoint.cut_after_fraction))
        )
        chunk_tokens, chunk_times = chunk_tokens[:keep], chunk_times[:keep]
        finish_reason = "stop"
    return Plan(
        behaviour=behaviour,
        first_byte=ttft * endpoint.first_byte_fraction,
        ttft=start,
        tokens_per_second=tps,
        chunk_tokens=chunk_tokens,
        chunk_times=chunk_times,
        finish_reason=finish_reason,
        cut=cut,
        reasoning_chunks=len(thinking),
        hidden_reasoning_tokens=thought if hidden else 0,
        reasoning_style=reasoning.style if reasoning is not None else None,
    )


def _chunk_times(
    chunk_tokens: Sequence[int], ttft: float, tps: float, burst: int, pause: float = 0.0
) -> tuple[float, ...]:
    """When each chunk is ready: the first at ``ttft``, then, after ``pause``, one token every
    ``1/tps``.

    With buffered (burst) delivery a chunk waits until the last chunk of its group is ready.
    """
    ready: list[float] = []
    produced = 0
    for index, count in enumerate(chunk_tokens):
        if index:
            produced += count
        ready.append(ttft + produced / tps + (pause if index else 0.0))
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
