"""Model profile snapshots: one JSON ``live`` object per (model, window size, window start)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from monitor.store import SQLStore

from .factories import WINDOW

HALF_HOUR = timedelta(minutes=30)


def live_of(start_offset: int, **extra: Any) -> dict[str, Any]:
    """A ``live`` object in the shape of the profile's (docs/design.md#model-profile)."""
    start = WINDOW + start_offset * HALF_HOUR
    return {
        "window_start": start.isoformat(),
        "window_end": (start + HALF_HOUR).isoformat(),
        "refreshed_at": (start + HALF_HOUR).isoformat(),
        "avg_uptime_ratio": 0.999_123_456_789,
        "best_ttft_seconds": 0.531,
        "best_output_tokens_per_second": 111.0,
        "active_endpoints": 2,
        "total_endpoints": 2,
        "available_via": ["OpenAI", "Azure"],
        "endpoints": [
            {
                "endpoint": "azure-eastus",
                "region": None,
                "failures_by_outcome": {"timeout": 1},
                "status": "up",
            }
        ],
        **extra,
    }


def test_profile_snapshot_round_trips_as_written_key_order_included(store: SQLStore) -> None:
    live = live_of(0, zeta=1, alpha="ünïcödé", nested={"b": [1, 2.5, None, True], "a": {}})

    store.upsert_profile("gpt-4.1-nano", 1800, WINDOW, WINDOW + HALF_HOUR, live)

    stored = store.latest_profile("gpt-4.1-nano", 1800)
    assert stored == live
    assert stored is not None
    assert list(stored) == list(live)
    assert list(stored["nested"]) == ["b", "a"]


def test_writing_the_same_window_again_replaces_the_snapshot(store: SQLStore) -> None:
    store.upsert_profile("m", 1800, WINDOW, WINDOW + HALF_HOUR, live_of(0, active_endpoints=1))
    newer = live_of(0, active_endpoints=2)

    store.upsert_profile("m", 1800, WINDOW, WINDOW + HALF_HOUR + timedelta(seconds=5), newer)

    assert store.profiles("m", window_seconds=1800) == [newer]


def test_latest_profile_is_the_newest_window_of_that_model_and_window_size(
    store: SQLStore,
) -> None:
    for offset in (1, 3, 2):
        store.upsert_profile("m", 1800, WINDOW + offset * HALF_HOUR, WINDOW, live_of(offset))
    store.upsert_profile("m", 3600, WINDOW + 9 * HALF_HOUR, WINDOW, live_of(9))
    store.upsert_profile("other", 1800, WINDOW + 9 * HALF_HOUR, WINDOW, live_of(9))

    assert store.latest_profile("m", 1800) == live_of(3)
    assert store.latest_profile("m", 3600) == live_of(9)


def test_latest_profile_of_a_model_without_snapshots_is_none(store: SQLStore) -> None:
    store.upsert_profile("m", 1800, WINDOW, WINDOW, live_of(0))

    assert store.latest_profile("unknown", 1800) is None
    assert store.latest_profile("m", 60) is None


def test_profiles_lists_snapshots_of_the_range_oldest_first(store: SQLStore) -> None:
    for offset in (3, 0, 2, 1):
        store.upsert_profile("m", 1800, WINDOW + offset * HALF_HOUR, WINDOW, live_of(offset))

    assert store.profiles("m", window_seconds=1800) == [live_of(i) for i in range(4)]
    assert store.profiles(
        "m", window_seconds=1800, since=WINDOW + HALF_HOUR, until=WINDOW + 3 * HALF_HOUR
    ) == [live_of(1), live_of(2)]
    assert store.profiles("other", window_seconds=1800) == []
