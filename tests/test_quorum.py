"""Uptime across locations by quorum (docs/design.md#quorum-uptime): slots, votes, the rules,
and the rollups across and per location."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import parse_config
from monitor.core.errors import ConfigError
from monitor.core.outcomes import EXCLUDED_FROM_UPTIME, Outcome
from monitor.core.quorum import Vote, parse_quorum, quorum_uptime, slot_count, slot_is_down
from monitor.core.rollup import EndpointIdentity, ProbeRow, compute_rollup, rollups_by_location

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = 60
SLOT = 10
OK, DOWN = Outcome.SUCCESS, Outcome.SERVER_ERROR
ID = EndpointIdentity("e", "m", "openai", None)


def _votes(table: dict[str, str]) -> list[Vote]:
    """One probe per location and slot: '+' up, '-' down, '.' none, 'x' excluded (auth)."""
    votes = []
    for location, slots in table.items():
        for slot, mark in enumerate(slots):
            at = slot * SLOT + 1.0
            if mark == "+":
                votes.append(Vote(location, at, OK))
            elif mark == "-":
                votes.append(Vote(location, at, DOWN))
            elif mark == "x":
                votes.append(Vote(location, at, Outcome.AUTH_ERROR))
    return votes


def _uptime(table: dict[str, str], rule: object = "majority") -> tuple[int, int, int]:
    result = quorum_uptime(
        _votes(table),
        window_seconds=WINDOW,
        slot_seconds=SLOT,
        rule=parse_quorum(rule),
    )
    return result.slots_up, result.slots_down, result.slots_without_vote


# --- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # slots:      1 of 3 down, 2 of 3 down, 3 of 3 down, 1 of 2 down, 2 of 2 down, none
        ("majority", (3, 3, 0)),
        ("any", (1, 5, 0)),
        ("all", (4, 2, 0)),
        (2, (3, 3, 0)),
        (3, (4, 2, 0)),  # with 2 voters, 3 means both
    ],
)
def test_each_rule_calls_slots_down_by_its_own_count(rule: object, expected: object) -> None:
    table = {
        "a": "---+-+",
        "b": "+----+",
        "c": "++-...",
    }
    # slot 0: a down (1/3); 1: a,b down (2/3); 2: all (3/3); 3: b down of a,b (1/2);
    # 4: a,b down (2/2); 5: none down (0/2) -> majority: down in 1, 2, 4.
    expected_majority_up = 3
    assert _uptime(table, "majority")[0] == expected_majority_up
    assert _uptime(table, rule) == expected


def test_one_location_failing_alone_is_up_by_majority_and_all_but_down_by_any() -> None:
    table = {"a": "++++++", "b": "------", "c": "++++++"}
    assert _uptime(table, "majority") == (6, 0, 0)
    assert _uptime(table, "all") == (6, 0, 0)
    assert _uptime(table, "any") == (0, 6, 0)
    assert _uptime(table, 2) == (6, 0, 0)


def test_failing_everywhere_is_down_by_every_rule() -> None:
    table = {"a": "------", "b": "------", "c": "------"}
    for rule in ("majority", "any", "all", 1, 2, 3, 7):
        assert _uptime(table, rule) == (0, 6, 0), rule


def test_a_location_votes_down_only_when_all_its_counted_probes_in_the_slot_failed() -> None:
    at = 1.0
    votes = [
        Vote("a", at, DOWN),
        Vote("a", at + 2, OK),  # a: one of two failed -> up
        Vote("b", at, DOWN),
        Vote("b", at + 3, Outcome.NOT_FOUND),  # excluded: b votes down
    ]
    result = quorum_uptime(votes, window_seconds=WINDOW, slot_seconds=SLOT)
    # Two voters, one down: not a majority.
    assert (result.slots_up, result.slots_down) == (1, 0)
    any_rule = quorum_uptime(votes, window_seconds=WINDOW, slot_seconds=SLOT, rule="any")
    assert (any_rule.slots_up, any_rule.slots_down) == (0, 1)


def test_excluded_outcomes_and_empty_slots_do_not_vote() -> None:
    table = {"a": "x+..-.", "b": "x+..-."}
    up, down, without = _uptime(table)
    assert (up, down, without) == (1, 1, 4)


def test_a_rate_limit_is_down_or_no_vote_as_configured() -> None:
    votes = [Vote("a", 1.0, Outcome.RATE_LIMITED), Vote("b", 1.0, Outcome.RATE_LIMITED)]
    down = quorum_uptime(votes, window_seconds=WINDOW, slot_seconds=SLOT)
    ignored = quorum_uptime(
        votes,
        window_seconds=WINDOW,
        slot_seconds=SLOT,
        rate_limited_is_down=False,
    )
    assert (down.slots_down, down.uptime_ratio) == (1, 0.0)
    assert (ignored.slots_up, ignored.slots_down, ignored.uptime_ratio) == (0, 0, None)


def test_slots_at_their_boundaries_and_a_shorter_last_slot() -> None:
    assert slot_count(60, 10) == 6
    assert slot_count(60, 25) == 3  # 25, 25 and 10 seconds
    boundary = [
        Vote("a", 10.0, DOWN),  # the start of slot 1, not slot 0
        Vote("b", 9.999, DOWN),
    ]
    result = quorum_uptime(boundary, window_seconds=WINDOW, slot_seconds=SLOT)
    # Each alone in its slot: both slots down (1 of 1), not one slot with 2 of 2.
    assert (result.slots_down, result.slots_without_vote) == (2, 4)
    last = [Vote("a", 59.0, OK), Vote("b", 51.0, OK)]
    short = quorum_uptime(last, window_seconds=WINDOW, slot_seconds=25)
    assert (short.slots_up, short.slots_without_vote) == (1, 2)


def test_a_probe_at_a_slot_start_is_in_that_slot_when_the_interval_is_not_whole() -> None:
    # 1.1 s slots: slot 3 starts 3.3 s in, which the store gives as 3_300_000 us / 1e6 (and in
    # floats 3.3 // 1.1 is 2). a alone in slot 3 and b alone in slot 2: two slots, both down.
    at_slot_3 = 3_300_000 / 1_000_000
    votes = [Vote("a", at_slot_3, DOWN), Vote("b", 2.3, DOWN)]
    result = quorum_uptime(votes, window_seconds=WINDOW, slot_seconds=1.1)
    assert slot_count(WINDOW, 1.1) == 55  # 54 of 1.1 s and a last one of 0.6 s
    assert (result.slots_down, result.slots_without_vote) == (2, 53)


@pytest.mark.parametrize("offset", [float(WINDOW), WINDOW + 30.0, -0.001, float("nan")])
def test_a_probe_outside_the_window_is_an_error(offset: float) -> None:
    with pytest.raises(ValueError, match="after the window's start is outside it"):
        quorum_uptime(
            [Vote("b", 1.0, OK), Vote("a", offset, OK)],
            window_seconds=WINDOW,
            slot_seconds=SLOT,
        )


@pytest.mark.parametrize("value", [0, -1, "0", "most", "", "\u00b2", True, 1.5, None])
def test_a_quorum_that_is_not_one_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="quorum"):
        parse_quorum(value)


def test_the_config_takes_a_quorum_and_refuses_a_bad_one() -> None:
    assert parse_config("rollup: {quorum: 2}", environ={}).schema.rollup.quorum == 2
    assert parse_config("rollup: {quorum: ALL}", environ={}).schema.rollup.quorum == "all"
    assert parse_config("{}", environ={}).schema.rollup.quorum == "majority"
    with pytest.raises(ConfigError) as caught:
        parse_config("rollup: {quorum: most}", environ={})
    assert any(p.startswith("rollup.quorum") for p in caught.value.problems)


def test_slot_is_down_needs_voters() -> None:
    with pytest.raises(ValueError, match="without voters"):
        slot_is_down(0, 0, "majority")


_tables = st.dictionaries(
    st.sampled_from("abcde"),
    st.text(alphabet="+-.x", min_size=WINDOW // SLOT, max_size=WINDOW // SLOT),
    max_size=5,
)


@given(table=_tables)
def test_the_rules_order_from_any_to_all_and_every_slot_is_counted_once(
    table: dict[str, str],
) -> None:
    up = {rule: _uptime(table, rule) for rule in ("any", "majority", "all", 1, 5)}
    for rule, (slots_up, slots_down, without) in up.items():
        assert slots_up + slots_down + without == WINDOW // SLOT, rule
        assert without == up["any"][2], rule  # whether a slot has a vote is not the rule's
    # any is the strictest and all the most lenient; majority lies between.
    assert up["any"][0] <= up["majority"][0] <= up["all"][0]
    # N = 1 is any; an N no slot's voters reach is all.
    assert (up[1], up[5]) == (up["any"], up["all"])


# --- one location: the numbers of a single agent -------------------------------------------------

_outcomes = st.sampled_from(
    [OK, OK, OK, DOWN, Outcome.TIMEOUT, Outcome.RATE_LIMITED, Outcome.AUTH_ERROR]
)


@given(
    probes=st.lists(st.tuples(st.floats(0, WINDOW - 0.001), _outcomes), max_size=40),
    limited_down=st.booleans(),
)
def test_with_one_location_uptime_is_the_probe_uptime_of_compute_rollup(
    probes: list[tuple[float, Outcome]], limited_down: bool
) -> None:
    rows = [
        ProbeRow("e", outcome, None, None, None, None, None, None, "here", s)
        for s, outcome in probes
    ]
    single = compute_rollup(ID, rows, START, WINDOW, rate_limited_is_down=limited_down)
    across, per_location = rollups_by_location(
        ID, rows, START, WINDOW, slot_seconds=SLOT, rate_limited_is_down=limited_down
    )
    assert across.uptime_ratio == single.uptime_ratio
    assert (across.locations, across.slots_up, across.slots_down) == (1, None, None)
    if rows:
        (mine,) = per_location
        assert (mine.location, mine.probes, mine.uptime_ratio) == (
            "here",
            len(rows),
            single.uptime_ratio,
        )


def test_rollups_across_and_per_location_of_three_locations() -> None:
    table = {"a": "++++++", "b": "------", "c": "+++++-"}
    rows = [
        ProbeRow("e", v.outcome, 0.5 if v.outcome is OK else None, None, None, 10, 5, 0.001,
                 v.location, v.offset_seconds)
        for v in _votes(table)
    ]  # fmt: skip
    across, per_location = rollups_by_location(ID, rows, START, WINDOW, slot_seconds=SLOT)
    # Every probe counts in the totals; uptime is the quorum's: only the last slot is down.
    assert (across.probes, across.successes, across.output_tokens) == (18, 11, 180)
    assert (across.locations, across.slots_up, across.slots_down) == (3, 5, 1)
    assert across.uptime_ratio == pytest.approx(5 / 6)
    assert across.location is None
    assert [(r.location, r.probes, r.uptime_ratio) for r in per_location] == [
        ("a", 6, 1.0),
        ("b", 6, 0.0),
        ("c", 6, pytest.approx(5 / 6)),
    ]


_counted_outcomes = st.sampled_from(
    [OK, OK, DOWN, Outcome.TIMEOUT, Outcome.RATE_LIMITED, Outcome.CANCELLED]
)
_excluded_outcomes = st.sampled_from(sorted(EXCLUDED_FROM_UPTIME))


@given(
    probes=st.lists(st.tuples(st.floats(0, WINDOW - 0.001), _counted_outcomes), max_size=40),
    silent=st.lists(st.tuples(st.floats(0, WINDOW - 0.001), _excluded_outcomes), max_size=5),
    slot_seconds=st.sampled_from([1.0, 7.0, 10.0, 25.0, 60.0, 90.0]),
    limited_down=st.booleans(),
)
def test_with_one_voting_location_quorum_uptime_is_the_probe_uptime_of_compute_rollup(
    probes: list[tuple[float, Outcome]],
    silent: list[tuple[float, Outcome]],
    slot_seconds: float,
    limited_down: bool,
) -> None:
    """One location votes, another probed but only drew excluded outcomes (say, a wrong key in
    its place): the uptime is the voter's probe uptime, not its share of up slots."""
    rows = [ProbeRow("e", o, None, None, None, None, None, None, "a", s) for s, o in probes]
    rows += [ProbeRow("e", o, None, None, None, None, None, None, "b", s) for s, o in silent]
    voter = compute_rollup(
        ID, rows[: len(probes)], START, WINDOW, rate_limited_is_down=limited_down
    )
    result = quorum_uptime(
        [(r.location or "", r.offset_seconds or 0.0, r.outcome) for r in rows],
        window_seconds=WINDOW,
        slot_seconds=slot_seconds,
        rate_limited_is_down=limited_down,
    )
    assert result.uptime_ratio == voter.uptime_ratio
    assert result.locations == (("a",) if voter.uptime_ratio is not None else ())
    if probes and silent:  # two locations probed: the rollup across goes through the quorum
        across, _ = rollups_by_location(
            ID, rows, START, WINDOW, slot_seconds=slot_seconds, rate_limited_is_down=limited_down
        )
        assert (across.locations, across.uptime_ratio) == (2, voter.uptime_ratio)
