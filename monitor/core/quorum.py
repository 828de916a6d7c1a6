"""Uptime across locations: a window's slots, each location's vote in them, and the quorum
that calls a slot down (docs/design.md#quorum-uptime).

A window is cut into slots of the probe interval (the last one shorter when the interval does
not divide the window). A probe belongs to the slot that holds its start time. In a slot, each
location that has at least one probe there that counts for uptime votes: down when all of its
counted probes there failed, up otherwise. A slot without a vote does not count. A slot is down
when its down votes reach the quorum of its voters:

- ``majority``: more than half of them (two of two, two of three; a tie is not enough to call
  a provider down, since each side is one location's word against another's);
- ``any``: one;
- ``all``: every voter;
- a number N: N of them, or every voter when fewer than N voted (a slot that only two of three
  locations saw is judged by the two: a missing vote is not a down vote).

The window's uptime is the up slots over the slots with a vote. When one location alone votes
in the window (others may have probed with excluded outcomes only), it is not the slot count but
that location's probe uptime (successes over counted probes), so one agent's numbers are the
same as before agents existed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from monitor.core.outcomes import EXCLUDED_FROM_UPTIME, Outcome

QuorumRule = Literal["majority", "any", "all"] | int
QUORUM_WORDS = ("majority", "any", "all")


def parse_quorum(value: object) -> QuorumRule:
    """A quorum rule from the config: ``majority``, ``any``, ``all`` or a whole number >= 1."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quorum: use majority, any, all or a number >= 1")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{value} is not a quorum: a number of locations must be >= 1")
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in QUORUM_WORDS:
            return word  # type: ignore[return-value]
        if word.isascii() and word.isdigit():
            return parse_quorum(int(word))
    raise ValueError(f"{value!r} is not a quorum: use majority, any, all or a number >= 1")


def slot_is_down(down: int, voters: int, rule: QuorumRule) -> bool:
    """Whether ``down`` down votes of ``voters`` call a slot down under ``rule``."""
    if voters <= 0:
        raise ValueError("a slot without voters is not judged")
    if rule == "majority":
        return 2 * down > voters
    if rule == "any":
        return down >= 1
    if rule == "all":
        return down == voters
    assert isinstance(rule, int)
    return down >= min(rule, voters)


@dataclass(frozen=True, slots=True)
class QuorumUptime:
    """A window's uptime across locations."""

    slots_up: int
    slots_down: int
    #: Slots of the window in which no location voted.
    slots_without_vote: int
    #: The locations that voted in at least one slot, sorted.
    locations: tuple[str, ...]
    #: Up slots over slots with a vote, or (one voting location) its probe uptime; None without
    #: votes.
    uptime_ratio: float | None


class Vote(NamedTuple):
    """What quorum needs of one probe: where from, how many seconds after the window's start
    it started, and its outcome."""

    location: str
    offset_seconds: float
    outcome: Outcome


def _micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def slot_count(window_seconds: float, slot_seconds: float) -> int:
    """How many slots a window has (the last one shorter when they do not divide)."""
    if _micros(slot_seconds) < 1 or _micros(window_seconds) < 1:
        raise ValueError("window and slot lengths must be at least a microsecond")
    return -(-_micros(window_seconds) // _micros(slot_seconds))


def quorum_uptime(
    probes: Iterable[tuple[str, float, Outcome]],
    *,
    window_seconds: float,
    slot_seconds: float,
    rule: QuorumRule = "majority",
    rate_limited_is_down: bool = True,
) -> QuorumUptime:
    """The uptime of one endpoint's window from the probes (``Vote``s, or the same as plain
    tuples) of every location.

    Slots are counted in whole microseconds, the precision of a stored start, so that a probe
    that starts exactly where a slot starts is in that slot whatever the interval (in floats,
    3.3 // 1.1 is 2)."""
    slots = slot_count(window_seconds, slot_seconds)
    slot_micros = _micros(slot_seconds)
    success, limited = Outcome.SUCCESS, Outcome.RATE_LIMITED
    excluded = EXCLUDED_FROM_UPTIME
    all_failed: dict[tuple[int, str], bool] = {}  # (slot, location) -> every counted one failed
    counted: dict[str, list[int]] = {}  # location -> [successes, counted] over the window
    for location, offset, outcome in probes:
        if not 0 <= offset < window_seconds:
            raise ValueError(f"a probe {offset:g} s after the window's start is outside it")
        if outcome is success:
            failed = False
        elif outcome in excluded or (outcome is limited and not rate_limited_is_down):
            continue  # neither up nor down
        else:
            failed = True
        slot = round(offset * 1_000_000) // slot_micros
        if slot >= slots:  # within a rounding of the window's end
            slot = slots - 1
        key = (slot, location)
        all_failed[key] = all_failed.get(key, True) and failed
        totals = counted.get(location)
        if totals is None:
            totals = counted[location] = [0, 0]
        totals[0] += not failed
        totals[1] += 1
    voters: dict[int, int] = {}
    down_votes: dict[int, int] = {}
    for (slot, _location), down in all_failed.items():
        voters[slot] = voters.get(slot, 0) + 1
        down_votes[slot] = down_votes.get(slot, 0) + down
    down_slots = sum(1 for slot, n in voters.items() if slot_is_down(down_votes[slot], n, rule))
    up_slots = len(voters) - down_slots
    locations = tuple(sorted(counted))
    if len(locations) == 1:
        successes, total = counted[locations[0]]
        ratio: float | None = successes / total
    else:
        ratio = up_slots / len(voters) if voters else None
    return QuorumUptime(up_slots, down_slots, slots - len(voters), locations, ratio)


def describe_rule(rule: QuorumRule) -> str:
    """``majority``, ``any``, ``all`` or ``2 locations``, for reports and pages."""
    return f"{rule} locations" if isinstance(rule, int) else str(rule)
