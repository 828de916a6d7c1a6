"""Times, ranges and window sizes as people type them (``--since``/``--until``, ``?since=``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.timeparse import (
    FIRST_MOMENT,
    LAST_MOMENT,
    RangeError,
    parse_range,
    parse_time,
    parse_window,
)

NOW = datetime(2025, 6, 1, 12, 34, 56, 789_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-01T12:00:00Z", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),
        ("2025-06-01T14:00:00+02:00", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),
        ("2025-06-01T07:30-04:30", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),
        ("2025-06-01 12:00:00.5Z", datetime(2025, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),
        ("now", NOW),
        ("2025-06-01t12:00:00z", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),  # RFC 3339 allows
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),  # leap second
        ("24h", NOW - timedelta(hours=24)),
        ("-24h", NOW - timedelta(hours=24)),
        ("30m", NOW - timedelta(minutes=30)),
        ("90s", NOW - timedelta(seconds=90)),
        ("7d", NOW - timedelta(days=7)),
        ("1.5h", NOW - timedelta(minutes=90)),
    ],
)
def test_parse_time_reads_iso_dates_now_and_relative_durations(
    text: str, expected: datetime
) -> None:
    parsed = parse_time(text, now=NOW)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("2025-06-01T12:00:00", "no time zone"),
        ("yesterday", "cannot read"),
        ("", "empty"),
        ("24", "cannot read"),
        ("24x", "cannot read"),
        ("2025-13-01", "not a valid date"),
        ("2025-06-01T25:00Z", "cannot read"),
        ("\x00", "cannot read"),
        (" now", "cannot read"),  # the grammar is exact, as the OpenAPI document states it
        ("24h\n", "cannot read"),
        ("\u0663h", "cannot read"),  # an Arabic-Indic digit three: only ASCII digits count
    ],
)
def test_parse_time_refuses_what_it_would_have_to_guess(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_time(text, now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("99999999999d", FIRST_MOMENT),
        ("9" * 400 + "s", FIRST_MOMENT),
        ("0001-01-01T00:00:00+01:00", FIRST_MOMENT),
        ("9999-12-31T23:59:59-01:00", LAST_MOMENT),
    ],
)
def test_parse_time_clamps_moments_beyond_what_utc_datetimes_hold(
    text: str, expected: datetime
) -> None:
    assert parse_time(text, now=NOW) == expected


def test_parse_range_defaults_to_a_span_ending_now() -> None:
    assert parse_range(None, None, now=NOW, default_span=timedelta(hours=24)) == (
        NOW - timedelta(hours=24),
        NOW,
    )


def test_parse_range_defaults_since_to_the_span_before_an_explicit_until() -> None:
    since, until = parse_range(None, "2025-05-01T00:00Z", now=NOW, default_span=timedelta(hours=1))
    assert (since, until) == (
        datetime(2025, 4, 30, 23, 0, tzinfo=UTC),
        datetime(2025, 5, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("since", "until", "parameter"),
    [
        ("garbage", None, "since"),
        (None, "garbage", "until"),
        ("1h", "2h", "since"),  # since after until
        ("now", "now", "since"),  # an empty range
    ],
)
def test_parse_range_names_the_parameter_at_fault(
    since: str | None, until: str | None, parameter: str
) -> None:
    with pytest.raises(RangeError) as caught:
        parse_range(since, until, now=NOW, default_span=timedelta(hours=24))
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(f"{parameter}: ")


def test_parse_range_may_allow_an_empty_range() -> None:
    since, until = parse_range(
        "1h", "2h", now=NOW, default_span=timedelta(hours=24), allow_empty=True
    )
    assert since > until


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1800", 1800), ("5s", 5), ("1h", 3600), ("1d", 86400), ("030m", 1800)],
)
def test_parse_window_gives_whole_seconds(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["0", "0m", "500ms", "1.5s", "30x", "-5m", " 30m", "30m\n", ""])
def test_parse_window_refuses_sizes_that_cannot_be_a_window(text: str) -> None:
    with pytest.raises(ValueError, match=r"window|duration"):
        parse_window(text)
