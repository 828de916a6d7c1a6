"""The light reads of rollups the web pages draw from: a few numbers per window
(``window_points``) and the newest windows with rollups (``rollup_window_starts``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from monitor.core.outcomes import Outcome
from monitor.core.rollup import (
    Distribution,
    EndpointIdentity,
    EndpointRollup,
    ProbeRow,
    compute_rollup,
)
from monitor.store import SQLStore, WindowPoint
from monitor.store.rows import rollup_to_row
from monitor.store.schema import rollups as rollups_table

from .factories import WINDOW, make_distribution, make_rollup

HALF_HOUR = timedelta(minutes=30)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _point(**overrides: Any) -> WindowPoint:
    base = WindowPoint(
        endpoint="azure-eastus",
        window_start=WINDOW,
        probes=30,
        successes=27,
        counted=30,
        uptime_ratio=0.9,
        ttft_p50=0.5,
        ttft_p95=0.95,
        speed_p50=100.0,
    )
    return base._replace(**overrides)


def test_window_points_carry_the_rollups_numbers_by_endpoint_then_window(
    store: SQLStore,
) -> None:
    store.upsert_rollups(
        [
            make_rollup(endpoint="openai", window_start=WINDOW + HALF_HOUR),
            make_rollup(endpoint="openai", window_start=WINDOW),
            make_rollup(window_start=WINDOW + HALF_HOUR, ttft=make_distribution(2.0)),
            make_rollup(),
        ]
    )

    points = store.window_points(window_seconds=1800, since=WINDOW, until=WINDOW + DAY)

    assert points == [
        _point(),
        _point(window_start=WINDOW + HALF_HOUR, ttft_p50=1.0, ttft_p95=1.9),
        _point(endpoint="openai"),
        _point(endpoint="openai", window_start=WINDOW + HALF_HOUR),
    ]
    assert all(p.window_start.tzinfo is not None for p in points)


def test_window_points_keep_to_the_range_the_window_size_the_endpoints_and_the_model(
    store: SQLStore,
) -> None:
    store.upsert_rollups(
        [
            make_rollup(window_start=WINDOW - HALF_HOUR),
            make_rollup(),
            make_rollup(window_start=WINDOW + HALF_HOUR),
            make_rollup(window_seconds=60),
            make_rollup(endpoint="openai", model="other"),
            make_rollup(endpoint="gateway"),
        ]
    )

    def starts(
        endpoints: list[str] | None = None, model: str | None = None
    ) -> list[tuple[str, datetime]]:
        found = store.window_points(
            window_seconds=1800,
            since=WINDOW,
            until=WINDOW + HALF_HOUR,
            endpoints=endpoints,
            model=model,
        )
        return [(p.endpoint, p.window_start) for p in found]

    assert starts() == [("azure-eastus", WINDOW), ("gateway", WINDOW), ("openai", WINDOW)]
    assert starts(endpoints=["openai", "gateway"]) == [("gateway", WINDOW), ("openai", WINDOW)]
    assert starts(endpoints=[]) == []
    assert starts(model="gpt-4.1-nano") == [("azure-eastus", WINDOW), ("gateway", WINDOW)]
    assert starts(model="other", endpoints=["openai", "azure-eastus"]) == [("openai", WINDOW)]


def _rollup_of(endpoint: str, outcomes: dict[str, int]) -> EndpointRollup:
    rows = [
        ProbeRow(endpoint, Outcome(name), 0.5, 100.0, 1.0, 10, 5, None)
        for name, n in outcomes.items()
        for _ in range(n)
    ]
    identity = EndpointIdentity(endpoint, "gpt-4.1-nano", "openai", None)
    return compute_rollup(identity, rows, WINDOW, 1800)


def test_window_points_count_the_probes_that_count_for_uptime_exactly(store: SQLStore) -> None:
    rollup = _rollup_of
    store.upsert_rollups(
        [
            # 7 successes of 9 counted (the auth error is excluded): uptime 7/9.
            rollup("a", {"success": 7, "timeout": 1, "server_error": 1, "auth_error": 3}),
            # No success: what counted is read from the outcomes.
            rollup("b", {"timeout": 2, "rate_limited": 3, "cancelled": 1}),
            # Nothing counted at all: uptime unknown.
            rollup("c", {"auth_error": 2, "not_found": 1}),
            rollup("d", {"success": 3}),
        ]
    )

    def counted(rate_limited_is_down: bool = True) -> dict[str, tuple[int, int, float | None]]:
        found = store.window_points(
            window_seconds=1800,
            since=WINDOW,
            until=WINDOW + HALF_HOUR,
            rate_limited_is_down=rate_limited_is_down,
        )
        return {p.endpoint: (p.probes, p.counted, p.uptime_ratio) for p in found}

    assert counted() == {
        "a": (12, 9, pytest.approx(7 / 9)),
        "b": (6, 5, 0.0),
        "c": (3, 0, None),
        "d": (3, 3, 1.0),
    }
    assert counted(rate_limited_is_down=False)["b"] == (6, 2, 0.0)


def test_window_points_read_beyond_one_in_list(store: SQLStore) -> None:
    names = [f"endpoint-{i:04d}" for i in range(1200)]
    store.upsert_rollups([make_rollup(endpoint=name) for name in names])

    points = store.window_points(
        window_seconds=1800, since=WINDOW, until=WINDOW + HALF_HOUR, endpoints=names[::-1]
    )

    assert [p.endpoint for p in points] == names


def test_window_points_never_show_a_rollup_of_no_probes(store: SQLStore, database: Engine) -> None:
    empty = make_rollup(
        probes=0, successes=0, outcomes={}, uptime_ratio=None, ttft=Distribution(),
        speed=Distribution(), latency=Distribution(), output_tokens=0, input_tokens=0,
        cost_usd=0.0,
    )  # fmt: skip
    with database.begin() as connection:
        connection.execute(insert(rollups_table), [rollup_to_row(empty)])

    assert store.window_points(window_seconds=1800, since=WINDOW, until=WINDOW + DAY) == []


def test_rollup_window_starts_are_the_newest_windows_with_rollups_newest_first(
    store: SQLStore, database: Engine
) -> None:
    # Windows 0, 1, 2, 4 and 7 half-hours after WINDOW have rollups (3, 5 and 6 have none);
    # 8 has only a rollup of no probes (an earlier version's); another size has its own.
    store.upsert_rollups(
        [make_rollup(window_start=WINDOW + k * HALF_HOUR) for k in (0, 1, 2, 4, 7)]
        + [make_rollup(endpoint="openai", window_start=WINDOW + 4 * HALF_HOUR)]
        + [make_rollup(window_seconds=60, window_start=WINDOW + 6 * HALF_HOUR)]
    )
    empty = make_rollup(
        window_start=WINDOW + 8 * HALF_HOUR, probes=0, successes=0, outcomes={},
        uptime_ratio=None, ttft=Distribution(), speed=Distribution(), latency=Distribution(),
    )  # fmt: skip
    with database.begin() as connection:
        connection.execute(insert(rollups_table), [rollup_to_row(empty)])

    def starts(until_halves: int, limit: int) -> list[int]:
        found = store.rollup_window_starts(
            1800, until=WINDOW + until_halves * HALF_HOUR, limit=limit
        )
        return [int((start - WINDOW) / HALF_HOUR) for start in found]

    assert starts(10, 10) == [7, 4, 2, 1, 0]
    assert starts(10, 2) == [7, 4]
    assert starts(7, 3) == [4, 2, 1]  # before `until`, not at it
    assert starts(0, 5) == []
    assert store.rollup_window_starts(60, until=WINDOW + DAY, limit=5) == [WINDOW + 3 * HOUR]
    with pytest.raises(ValueError, match="limit must be positive"):
        store.rollup_window_starts(1800, until=WINDOW, limit=0)
