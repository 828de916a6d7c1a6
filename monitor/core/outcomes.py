"""The outcome of a probe and what each one means for uptime (docs/design.md#outcomes)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Outcome(StrEnum):
    """Exactly one of these describes how a probe ended."""

    SUCCESS = "success"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    RATE_LIMITED = "rate_limited"
    AUTH_ERROR = "auth_error"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    SERVER_ERROR = "server_error"
    STREAM_ERROR = "stream_error"
    PROTOCOL_ERROR = "protocol_error"
    EMPTY_RESPONSE = "empty_response"
    CONTENT_FILTER = "content_filter"
    CANCELLED = "cancelled"
    #: The answer is wrong or cut short although the stream said it finished
    #: (docs/design.md#answer-check).
    WRONG_ANSWER = "wrong_answer"


class SkipReason(StrEnum):
    """Why a scheduled run sent no probe (the ``reason`` of ``llm_monitor_probes_skipped_total``).

    A skipped run is not a probe: it counts neither for nor against uptime.
    """

    #: The provider's 429 said how long to wait (a header or its message), and it has not passed.
    RETRY_AFTER = "retry_after"
    #: 429s in a row that did not say how long: the monitor's own exponential back-off.
    BACKOFF = "backoff"


#: Outcomes that describe our own configuration (or our own shutdown, ``cancelled``), not the
#: provider: left out of uptime. ``cancelled`` is a probe cut short by SIGTERM.
EXCLUDED_FROM_UPTIME: frozenset[Outcome] = frozenset(
    {Outcome.AUTH_ERROR, Outcome.NOT_FOUND, Outcome.BAD_REQUEST, Outcome.CANCELLED}
)


def counts_as_down(outcome: Outcome, *, rate_limited_is_down: bool = True) -> bool:
    """Whether an outcome lowers uptime."""
    if outcome is Outcome.SUCCESS or outcome in EXCLUDED_FROM_UPTIME:
        return False
    if outcome is Outcome.RATE_LIMITED:
        return rate_limited_is_down
    return True


def up_and_down(
    counts: Mapping[Outcome, int], *, rate_limited_is_down: bool = True
) -> tuple[int, int]:
    """(successes, probes that lower uptime) of these outcome counts (docs/design.md#uptime).
    With rate_limited_is_down off, a 429 is neither: it leaves both."""
    up = counts.get(Outcome.SUCCESS, 0)
    down = sum(
        n
        for outcome, n in counts.items()
        if counts_as_down(outcome, rate_limited_is_down=rate_limited_is_down)
    )
    return up, down


def uptime_ratio(counts: dict[Outcome, int], *, rate_limited_is_down: bool = True) -> float | None:
    """Successes over probes that count, or None when no probe counts (docs/design.md#uptime)."""
    up, down = up_and_down(counts, rate_limited_is_down=rate_limited_is_down)
    total = up + down
    return None if total == 0 else up / total


def known_outcomes(counts: Mapping[str, int]) -> dict[Outcome, int]:
    """Stored outcome counts (by value) as outcomes; a value this version does not know (written
    by a newer one) is left out, since it cannot be judged up or down."""
    return {Outcome(k): v for k, v in counts.items() if k in Outcome._value2member_map_}


def failures_of(counts: Mapping[str, int]) -> dict[str, int]:
    """The counts of every outcome but success, in order of outcome value, zeros left out."""
    return {k: v for k, v in sorted(counts.items()) if k != Outcome.SUCCESS.value and v}
