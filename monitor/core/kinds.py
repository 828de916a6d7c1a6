"""Prompts of a given size, for probe kinds that measure TTFT against input length
(docs/design.md#probe-kinds).

No tokenizer is downloaded at run time, so a long prompt is built from words whose token count
is known: each word of ``WORDS`` is one token, with the space before it, in OpenAI's
``cl100k_base`` and ``o200k_base`` (checked by the tests with the real encodings), and so is a
full stop. A filler of N such tokens is N tokens long for those models, whatever the order of
its words. The order is shuffled deterministically (the same kind always sends the same text,
behind the probe's unique prefix, which comes first so that no prompt cache serves it), so the
text does not repeat with a short period.

Other tokenizers count common English words about the same; the first probe's
``usage.prompt_tokens`` says how far off a provider is, and ``corrected_filler`` sizes the next
prompts from it.
"""

from __future__ import annotations

from monitor.core.spend import prompt_tokens

#: Common English words, each a single token with its leading space in cl100k_base and
#: o200k_base.
_COMMON = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an had they you were their one all we can her has there been if more "
    "when will would who so no time people year way day man thing woman life child world "
    "school state family student group country problem hand part place case week company "
    "system program question work government number night point home water room mother "
    "area money story fact month lot right study book eye job word business issue side "
    "kind head house service friend father power hour game line end member law car city "
    "community name president team minute idea kid body information back parent face "
    "others level office door health person art war history party result change morning "
    "reason research girl guy moment air teacher force education"
)
WORDS: tuple[str, ...] = tuple(" " + word for word in _COMMON.split(" "))
#: The kind every endpoint has: its plain prompt, on its interval. Only it counts for uptime,
#: the rollups and incidents.
DEFAULT_KIND = "short"
#: A full stop ends a "sentence" every this many words (one token too).
SENTENCE_WORDS = 15
#: Between the filler and the question (one token).
SEPARATOR = "\n\n"


def filler(tokens: int, seed: int = 0) -> str:
    """Text of exactly ``tokens`` tokens (cl100k_base, o200k_base): words of ``WORDS`` in a
    deterministic shuffled order, with a full stop after every ``SENTENCE_WORDS`` words."""
    out: list[str] = []
    state = seed % 2**32 or 1
    words = 0
    while len(out) < tokens:
        if words == SENTENCE_WORDS:
            out.append(".")
            words = 0
            continue
        # xorshift32: a fixed, fast pseudo-random walk over the words.
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out.append(WORDS[state % len(WORDS)])
        words += 1
    return "".join(out)


def fixed_tokens(question: str) -> int:
    """Our count of everything in a kind's probe but its filler: the probe's prefix, the chat
    framing, the question and the separator."""
    return prompt_tokens(question) + 1


def filler_tokens(question: str, input_tokens: int) -> int:
    """How many filler tokens make a probe asking ``question`` about ``input_tokens`` long in
    all (the probe's prefix, the chat framing, the separator and the question included)."""
    return max(0, input_tokens - fixed_tokens(question))


def sized_prompt(question: str, fill: int, seed: int = 0) -> str:
    """``fill`` tokens of filler, then the question (the probe's prefix goes before both)."""
    if fill <= 0:
        return question
    return filler(fill, seed) + SEPARATOR + question


def corrected_filler(fill: int, *, fixed: int, target: int, measured: int) -> int:
    """The filler size that brings to ``target`` tokens a prompt that the provider counted as
    ``measured`` tokens with ``fill`` tokens of filler, where ``fixed`` is our count of the rest
    (prefix, framing, separator, question): the provider's tokens per filler token scale the
    filler."""
    if fill <= 0 or measured <= fixed:
        return max(0, target - fixed)
    per_filler_token = (measured - fixed) / fill
    return max(0, round((target - fixed) / per_filler_token))
