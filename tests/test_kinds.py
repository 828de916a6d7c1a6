"""Prompts of a given size for probe kinds (monitor/core/kinds.py): their filler is exactly as
many tokens as asked by OpenAI's own encodings (cl100k_base, o200k_base, from the bpe-openai
package), a whole probe prompt comes within 1 % of its target for both and within 5 % by the
simulator's count (what it reports as usage.prompt_tokens), and a provider that counts
otherwise is corrected after one measurement."""

from __future__ import annotations

import pytest

from monitor.core.kinds import WORDS, corrected_filler, filler, filler_tokens, sized_prompt
from monitor.core.spend import MESSAGE_OVERHEAD_TOKENS, PROMPT_PREFIX
from monitor.simulator.behaviour import estimate_prompt_tokens

bpe_openai = pytest.importorskip("bpe_openai", reason="pip install -e '.[test]'")
ENCODINGS = {name: bpe_openai.get_encoding(name) for name in ("cl100k_base", "o200k_base")}
QUESTION = "Count from 1 to 40, separated by spaces."


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_every_word_is_one_token(name: str) -> None:
    encoding = ENCODINGS[name]
    assert all(len(encoding.encode(word)) == 1 for word in WORDS)


@pytest.mark.parametrize("tokens", [1, 15, 16, 1_000, 10_000])
@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_a_filler_is_exactly_as_many_tokens_as_asked(name: str, tokens: int) -> None:
    assert len(ENCODINGS[name].encode(filler(tokens, seed=7))) == tokens


def test_a_filler_is_deterministic_and_does_not_repeat_a_short_period() -> None:
    text = filler(2_000, seed=3)
    assert text == filler(2_000, seed=3) != filler(2_000, seed=4)
    sentences = text.split(".")
    assert len(set(sentences)) == len(sentences)  # no sentence comes twice


@pytest.mark.parametrize("target", [1_000, 10_000, 50_000])
def test_a_probe_prompt_is_its_target_size(target: int) -> None:
    prompt = PROMPT_PREFIX + sized_prompt(QUESTION, filler_tokens(QUESTION, target))
    for encoding in ENCODINGS.values():
        counted = len(encoding.encode(prompt)) + MESSAGE_OVERHEAD_TOKENS
        assert counted == pytest.approx(target, rel=0.01)
    # The simulator's count (usage.prompt_tokens of the chat message it receives).
    assert estimate_prompt_tokens([prompt]) == pytest.approx(target, rel=0.05)


def test_a_provider_that_counts_otherwise_is_corrected_after_one_probe() -> None:
    target, fixed = 10_000, 30
    fill = target - fixed
    # A tokenizer that splits every eighth filler word in two: 12.5 % more filler tokens.
    measured = fixed + round(fill * 1.125)
    again = corrected_filler(fill, fixed=fixed, target=target, measured=measured)
    assert fixed + round(again * 1.125) == pytest.approx(target, rel=0.001)
    assert corrected_filler(0, fixed=fixed, target=target, measured=fixed) == target - fixed
