"""Window bucketing, percentiles and per-endpoint rollups (docs/design.md#rollup-windows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.outcomes import Outcome
from monitor.core.rollup import (
    Distribution,
    EndpointIdentity,
    ProbeRow,
    compute_rollup,
    percentile,
    window_start,
    windows_between,
)


@pytest.mark.parametrize(
    ("moment", "window", "expected"),
    [
        (
            datetime(2026, 11, 25, 16, 29, 59, 999999, tzinfo=UTC),
            1800,
            datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 25, 16, 30, tzinfo=UTC),
            1800,
            datetime(2026, 11, 25, 16, 30, tzinfo=UTC),
        ),
        (
            datetime(2026, 11, 25, 16, 31, 7, tzinfo=UTC),
            5,
            datetime(2026, 11, 25, 16, 31, 5, tzinfo=UTC),
        ),
        (datetime(2026, 11, 25, 23, 59, tzinfo=UTC), 86400, datetime(2026, 11, 25, tzinfo=UTC)),
    ],
    ids=["end-of-window", "boundary", "five-seconds", "day"],
)
def test_window_start_floors_to_aligned_utc_buckets(
    moment: datetime, window: int, expected: datetime
) -> None:
    assert window_start(moment, window) == expected


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([5, 10, 60, 300, 900, 1800, 3600, 86400]),
)
def test_every_moment_lies_in_exactly_its_window(moment: datetime, window: int) -> None:
    start = window_start(moment, window)
    assert start <= moment < start + timedelta(seconds=window)
    assert start.timestamp() % window == 0


def test_window_start_works_in_any_timezone() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 11, 25, 17, 45, tzinfo=ZoneInfo("Europe/Paris"))  # 16:45 UTC
    assert window_start(local, 1800) == datetime(2026, 11, 25, 16, 30, tzinfo=UTC)


def test_windows_between_lists_starts_in_the_half_open_range() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    starts = windows_between(t0 + timedelta(seconds=1), t0 + timedelta(minutes=90), 1800)
    assert starts == [t0 + timedelta(minutes=30), t0 + timedelta(minutes=60)]


def test_percentile_interpolates_between_ranks() -> None:
    data = [1.0, 2.0, 3.0, 4.0]
    assert percentile(data, 0.5) == pytest.approx(2.5)
    assert percentile(data, 0.0) == 1.0 and percentile(data, 1.0) == 4.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


def test_distribution_skips_unknown_values() -> None:
    dist = Distribution.of([0.3, None, 0.1, 0.2])
    assert dist.count == 3 and dist.min == 0.1 and dist.max == 0.3
    assert dist.p50 == pytest.approx(0.2) and dist.mean == pytest.approx(0.2)
    assert Distribution.of([None]) == Distribution()


def _row(outcome: Outcome, ttft: float | None = None, tokens: int | None = None) -> ProbeRow:
    ok = outcome is Outcome.SUCCESS
    return ProbeRow(
        endpoint="e",
        outcome=outcome,
        ttft_seconds=ttft,
        output_tokens_per_second=100.0 if ok else None,
        total_seconds=1.0 if ok else None,
        output_tokens=tokens,
        input_tokens=10 if tokens else None,
        cost_usd=0.001 if tokens else None,
    )


def test_rollup_counts_outcomes_and_excludes_our_own_errors_from_uptime() -> None:
    rows = [
        _row(Outcome.SUCCESS, 0.5, 40),
        _row(Outcome.SUCCESS, 0.7, 40),
        _row(Outcome.SUCCESS, 0.6, 40),
        _row(Outcome.SERVER_ERROR),
        _row(Outcome.AUTH_ERROR),  # our configuration, not the provider
        _row(Outcome.RATE_LIMITED),
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rollup = compute_rollup(EndpointIdentity("e", "m", "openai", None), rows, start, 1800)
    assert rollup.probes == 6 and rollup.successes == 3
    assert rollup.outcomes == {"auth_error": 1, "rate_limited": 1, "server_error": 1, "success": 3}
    assert rollup.uptime_ratio == pytest.approx(3 / 5)
    assert rollup.ttft.p50 == pytest.approx(0.6) and rollup.ttft.count == 3
    assert rollup.output_tokens == 120 and rollup.input_tokens == 30
    assert rollup.cost_usd == pytest.approx(0.003)
    assert rollup.failures_by_outcome == {"auth_error": 1, "rate_limited": 1, "server_error": 1}
    assert rollup.window_end == start + timedelta(minutes=30)

    lenient = compute_rollup(
        EndpointIdentity("e", "m", "openai", None), rows, start, 1800, rate_limited_is_down=False
    )
    assert lenient.uptime_ratio == pytest.approx(3 / 4)


def test_rollup_of_an_empty_window_has_unknown_uptime() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rollup = compute_rollup(EndpointIdentity("e", "m", "openai", None), [], start, 60)
    assert rollup.probes == 0 and rollup.uptime_ratio is None and rollup.ttft.p50 is None


def test_rollup_is_a_function_of_its_rows() -> None:
    rows = [_row(Outcome.SUCCESS, t / 10, 5) for t in range(1, 8)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ident = EndpointIdentity("e", "m", "openai", None)
    assert compute_rollup(ident, rows, start, 60) == compute_rollup(ident, rows[::-1], start, 60)
