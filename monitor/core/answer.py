"""The answer check: a probe whose answer is wrong or cut short is not a success, whatever the
server (or a gateway in front of it) says (docs/design.md#answer-check).

Two checks, on the answer text as received (reasoning is not part of it):

- ``expect``: a regular expression the answer must match (``re.search``), when configured;
- otherwise, when the prompt asks to count ("Count from 1 to N", the default prompt's form),
  the answer must reach N: its largest whole number is at least N.

Neither applies when the stream ended with ``finish_reason: length``: the answer was cut by the
probe's own ``max_tokens``, which is the configuration's doing, not the provider's.
"""

from __future__ import annotations

import functools
import re

#: The counting prompt's form; N is the number the answer must reach.
_COUNT = re.compile(r"\bcount\s+from\s+1\s+to\s+(\d{1,6})\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
#: How much of the answer's end an error shows.
TAIL_CHARS = 80


def counted_to(prompt: str) -> int | None:
    """N when ``prompt`` asks to count from 1 to N, else None."""
    found = _COUNT.search(prompt)
    return int(found.group(1)) if found else None


@functools.lru_cache(maxsize=256)
def compiled(expect: str) -> re.Pattern[str]:
    """``expect`` compiled (cached: every probe of an endpoint checks the same one)."""
    return re.compile(expect)


def tail(text: str) -> str:
    """The end of ``text`` as an error shows it: ``"…17 18 19 20"`` (quoted, on one line)."""
    flat = " ".join(text.split())
    shown = flat if len(flat) <= TAIL_CHARS else "…" + flat[-TAIL_CHARS:]
    return repr(shown)


def check_answer(
    text: str, finish_reason: str | None, *, prompt: str, expect: str | None = None
) -> str | None:
    """Why the answer is wrong (the error of a ``wrong_answer`` probe), or None when it passes
    or is not checked."""
    if finish_reason == "length":
        return None
    reason = finish_reason or "none"
    if expect is not None:
        if compiled(expect).search(text):
            return None
        return f"the answer does not match expect {expect!r} (finish_reason {reason}): {tail(text)}"
    goal = counted_to(prompt)
    if goal is None:
        return None
    numbers = [int(n) for n in _NUMBER.findall(text[-100_000:]) if len(n) <= 9]
    if numbers and max(numbers) >= goal:
        return None
    where = f"stops at {numbers[-1]}" if numbers else "has no number"
    return f"the answer {where} of the count to {goal} (finish_reason {reason}): {tail(text)}"
