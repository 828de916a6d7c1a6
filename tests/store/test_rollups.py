"""Rollups: exact round trips and idempotent upserts keyed by (endpoint, window size, start)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from monitor.core.rollup import Distribution, EndpointIdentity, EndpointRollup, compute_rollup
from monitor.store import SQLStore
from monitor.store.rows import rollup_to_row
from monitor.store.schema import location_rollups as location_rollups_table
from monitor.store.schema import rollups as rollups_table
from monitor.store.sql import WRITE_SLICE

from .factories import WINDOW, bare_probe, make_probe, make_rollup

HALF_HOUR = timedelta(minutes=30)


def test_rollup_round_trips_exactly(store: SQLStore) -> None:
    rollup = make_rollup()

    store.upsert_rollups([rollup])

    [stored] = store.rollups(window_seconds=1800)
    assert stored == rollup
    # computed_at is left out of EndpointRollup equality, so compare it on its own.
    assert stored.computed_at == rollup.computed_at
    assert stored.computed_at.tzinfo is UTC
    assert stored.window_start.tzinfo is UTC
    assert list(stored.outcomes) == list(rollup.outcomes)


def test_rollup_without_known_values_round_trips(store: SQLStore) -> None:
    rollup = make_rollup(
        region=None,
        probes=2,
        successes=0,
        outcomes={"auth_error": 2},
        uptime_ratio=None,
        ttft=Distribution(),
        speed=Distribution(),
        latency=Distribution(),
        output_tokens=0,
        input_tokens=0,
        cost_usd=0.0,
    )

    store.upsert_rollups([rollup])

    assert store.rollups(window_seconds=1800) == [rollup]


def test_rollup_computed_from_stored_probe_rows_round_trips(store: SQLStore) -> None:
    probes = [
        make_probe(started_at=WINDOW + i * timedelta(seconds=61), ttft_seconds=0.4 + i / 100)
        for i in range(20)
    ] + [bare_probe(endpoint="azure-eastus", started_at=WINDOW + timedelta(minutes=29))]
    store.add_probes(probes)
    identity = EndpointIdentity("azure-eastus", "gpt-4.1-nano", "azure", "eastus")
    rows = store.probe_rows(WINDOW, WINDOW + HALF_HOUR)["azure-eastus"]
    rollup = compute_rollup(identity, rows, WINDOW, 1800, now=WINDOW + HALF_HOUR)

    store.upsert_rollups([rollup])

    assert rollup.probes == 21
    assert store.rollups(window_seconds=1800) == [rollup]


def test_counters_hold_64_bit_values(store: SQLStore) -> None:
    big = 2**40 + 3
    rollup = make_rollup(probes=big, successes=big - 1, output_tokens=big, input_tokens=2**62)

    store.upsert_rollups([rollup])

    assert store.rollups(window_seconds=1800) == [rollup]


def test_writing_the_same_window_twice_keeps_one_row_with_the_newer_values(
    store: SQLStore,
) -> None:
    first = make_rollup()
    recomputed = make_rollup(
        probes=31,
        successes=28,
        outcomes={"success": 28, "timeout": 3},
        uptime_ratio=28 / 31,
        ttft=make_distribution_of(0.7),
        region=None,
        cost_usd=0.1,
        computed_at=first.computed_at + timedelta(minutes=1),
    )

    store.upsert_rollups([first])
    store.upsert_rollups([recomputed])
    store.upsert_rollups([recomputed])

    [stored] = store.rollups(window_seconds=1800)
    assert stored == recomputed
    assert stored.computed_at == recomputed.computed_at


def make_distribution_of(value: float) -> Distribution:
    return Distribution.of([value])


def test_a_batch_that_repeats_a_window_keeps_its_last_rollup(store: SQLStore) -> None:
    first = make_rollup(probes=1)
    last = make_rollup(probes=2)

    store.upsert_rollups([first, make_rollup(endpoint="other"), last])

    assert store.rollups(window_seconds=1800, endpoint="azure-eastus") == [last]
    assert len(store.rollups(window_seconds=1800)) == 2


def test_same_endpoint_and_start_with_another_window_size_is_another_rollup(
    store: SQLStore,
) -> None:
    half_hour = make_rollup(window_seconds=1800)
    hour = make_rollup(window_seconds=3600, probes=60)

    store.upsert_rollups([half_hour, hour])

    assert store.rollups(window_seconds=1800) == [half_hour]
    assert store.rollups(window_seconds=3600) == [hour]


def test_rollups_filter_by_model_endpoint_and_window_range(store: SQLStore) -> None:
    a0 = make_rollup(endpoint="a", model="m1", window_start=WINDOW)
    b0 = make_rollup(endpoint="b", model="m2", window_start=WINDOW)
    a1 = make_rollup(endpoint="a", model="m1", window_start=WINDOW + HALF_HOUR)
    a2 = make_rollup(endpoint="a", model="m1", window_start=WINDOW + 2 * HALF_HOUR)
    store.upsert_rollups([a2, b0, a1, a0])

    assert store.rollups(window_seconds=1800) == [a0, b0, a1, a2]
    assert store.rollups(window_seconds=1800, model="m1") == [a0, a1, a2]
    assert store.rollups(window_seconds=1800, endpoint="b") == [b0]
    assert store.rollups(
        window_seconds=1800, since=WINDOW + HALF_HOUR, until=WINDOW + 2 * HALF_HOUR
    ) == [a1]
    assert store.rollups(window_seconds=1800, since=WINDOW + timedelta(seconds=1)) == [a1, a2]
    assert store.rollups(window_seconds=60) == []


def test_rollup_windows_are_the_starts_that_have_rollups_in_the_range(store: SQLStore) -> None:
    store.upsert_rollups(
        [
            make_rollup(endpoint="a", window_start=WINDOW),
            make_rollup(endpoint="b", window_start=WINDOW),
            make_rollup(endpoint="a", window_start=WINDOW + 2 * HALF_HOUR),
            make_rollup(endpoint="a", window_start=WINDOW + 3 * HALF_HOUR),
            make_rollup(endpoint="a", window_start=WINDOW, window_seconds=3600),
        ]
    )

    windows = store.rollup_windows(1800, WINDOW, WINDOW + 3 * HALF_HOUR)

    assert windows == {WINDOW, WINDOW + 2 * HALF_HOUR}
    assert store.rollup_windows(3600, WINDOW, WINDOW + 3 * HALF_HOUR) == {WINDOW}
    assert store.rollup_windows(60, WINDOW, WINDOW + 3 * HALF_HOUR) == set()


def test_upserting_no_rollups_does_nothing(store: SQLStore) -> None:
    store.upsert_rollups([])

    assert store.rollups(window_seconds=1800) == []


def _outcome_counts(store: SQLStore, **span: Any) -> dict[tuple[str, str], dict[str, int]]:
    """The outcome counts ``Store.uptime_counts`` sums over one-location windows (all of this
    module's rollups), by (model, endpoint)."""
    return {
        (model, endpoint): dict(counts)
        for model, uptime in store.uptime_counts(**span).items()
        for endpoint, counts in uptime.outcomes.items()
    }


def _summed_from_rollups(
    rollups: list[EndpointRollup],
) -> dict[tuple[str, str], dict[str, int]]:
    """What ``_outcome_counts`` must equal: the outcomes of whole rollups, added up in Python."""
    sums: dict[tuple[str, str], Counter[str]] = {}
    for rollup in rollups:
        sums.setdefault((rollup.model, rollup.endpoint), Counter()).update(rollup.outcomes)
    return {key: dict(sorted(counter.items())) for key, counter in sums.items()}


def test_outcome_counts_equal_the_outcomes_of_the_rollups_summed(store: SQLStore) -> None:
    rollups = [
        make_rollup(
            endpoint=endpoint,
            model=model,
            window_start=WINDOW + n * HALF_HOUR,
            outcomes={"success": 25 + n, "timeout": n % 3, "rate_limited": 2**40 * (n == 2)},
        )
        for n in range(6)
        for endpoint, model in (("a", "m1"), ("b", "m1"), ("c", "m2"))
    ] + [
        make_rollup(endpoint="a", model="m1", window_start=WINDOW, outcomes={"cancelled": 4}),
        make_rollup(endpoint="a", window_seconds=3600, outcomes={"server_error": 7}),
        make_rollup(endpoint="d", model="m2", outcomes={"some_future_outcome": 1}),
    ]
    store.upsert_rollups(rollups)

    for since, until in (
        (None, None),
        (WINDOW + HALF_HOUR, WINDOW + 4 * HALF_HOUR),
        (WINDOW + timedelta(seconds=1), None),
        (None, WINDOW + HALF_HOUR),
    ):
        for model in (None, "m1", "m2", "unknown"):
            stored = store.rollups(window_seconds=1800, since=since, until=until, model=model)
            counts = _outcome_counts(
                store, window_seconds=1800, since=since, until=until, model=model
            )
            assert counts == _summed_from_rollups(stored), (since, until, model)


def test_outcome_counts_sum_windows_by_model_and_endpoint(store: SQLStore) -> None:
    store.upsert_rollups(
        [
            make_rollup(endpoint="a", model="m1", outcomes={"success": 3, "timeout": 1}),
            make_rollup(
                endpoint="a", model="m1", window_start=WINDOW + HALF_HOUR, outcomes={"success": 4}
            ),
            # The same endpoint serving another model (the config changed) stays apart.
            make_rollup(
                endpoint="a",
                model="m2",
                window_start=WINDOW + 2 * HALF_HOUR,
                outcomes={"success": 1, "rate_limited": 2},
            ),
            make_rollup(endpoint="a", window_seconds=60, outcomes={"success": 100}),
        ]
    )

    assert _outcome_counts(store, window_seconds=1800) == {
        ("m1", "a"): {"success": 7, "timeout": 1},
        ("m2", "a"): {"rate_limited": 2, "success": 1},
    }
    assert _outcome_counts(store, window_seconds=1800, model="m2") == {
        ("m2", "a"): {"rate_limited": 2, "success": 1}
    }
    assert _outcome_counts(store, window_seconds=1800, until=WINDOW + HALF_HOUR) == {
        ("m1", "a"): {"success": 3, "timeout": 1}
    }
    assert _outcome_counts(store, window_seconds=60) == {("gpt-4.1-nano", "a"): {"success": 100}}
    assert _outcome_counts(store, window_seconds=3600) == {}


def test_outcome_counts_of_rollups_without_probes_are_empty(store: SQLStore) -> None:
    store.upsert_rollups([make_rollup(probes=0, successes=0, outcomes={}, uptime_ratio=None)])

    assert _outcome_counts(store, window_seconds=1800) == {}
    assert _outcome_counts(store, window_seconds=1800, since=WINDOW + HALF_HOUR) == {}


def _empty(**overrides: object) -> EndpointRollup:
    """A rollup of no probes, what an earlier version wrote for a window without any."""
    return make_rollup(
        probes=0,
        successes=0,
        outcomes={},
        uptime_ratio=None,
        ttft=Distribution(),
        speed=Distribution(),
        latency=Distribution(),
        output_tokens=0,
        input_tokens=0,
        cost_usd=0.0,
        **overrides,
    )


def test_a_rollup_of_no_probes_is_not_stored(store: SQLStore) -> None:
    store.upsert_rollups([_empty(), _empty(endpoint="openai", window_start=WINDOW + HALF_HOUR)])

    assert store.rollups(window_seconds=1800) == []
    assert store.rollup_windows(1800, WINDOW - HALF_HOUR, WINDOW + 2 * HALF_HOUR) == set()


def test_a_rollup_of_no_probes_leaves_the_stored_one_of_its_window(store: SQLStore) -> None:
    # Recomputing a window whose raw probes retention deleted must not erase its summary.
    kept = make_rollup()
    store.upsert_rollups([kept])

    store.upsert_rollups([_empty()])

    assert store.rollups(window_seconds=1800) == [kept]


def test_rollups_of_no_probes_written_by_an_earlier_version_are_not_read(
    store: SQLStore, database: Engine
) -> None:
    real = make_rollup(endpoint="openai", provider="openai", region=None)
    with database.begin() as connection:
        connection.execute(
            insert(rollups_table),
            [
                rollup_to_row(_empty()),
                rollup_to_row(_empty(window_start=WINDOW + HALF_HOUR)),
                rollup_to_row(real),
            ],
        )

    assert store.rollups(window_seconds=1800) == [real]
    assert store.rollups(window_seconds=1800, endpoint="azure-eastus") == []
    assert store.rollup_windows(1800, WINDOW, WINDOW + 2 * HALF_HOUR) == {WINDOW}
    assert _outcome_counts(store, window_seconds=1800) == {
        ("gpt-4.1-nano", "openai"): dict(real.outcomes)
    }


def test_rollups_across_and_per_location_are_kept_apart_and_replaced_by_key(
    store: SQLStore,
) -> None:
    across = make_rollup(locations=3, slots_up=58, slots_down=2, uptime_ratio=58 / 60)
    per_location = [
        make_rollup(location=loc, probes=10, uptime_ratio=ratio)
        for loc, ratio in (("a", 1.0), ("b", 0.2), ("c", 1.0))
    ]
    store.upsert_rollups([across, *per_location])

    assert store.rollups(window_seconds=1800) == [across]
    assert store.location_rollups(window_seconds=1800) == per_location
    # Recomputed: the same keys are replaced, nothing is added.
    again = replace(per_location[1], uptime_ratio=0.3)
    store.upsert_rollups([replace(across, slots_down=3), again])
    assert store.rollups(window_seconds=1800)[0].slots_down == 3
    assert [r.uptime_ratio for r in store.location_rollups(window_seconds=1800)] == [1.0, 0.3, 1.0]
    assert store.location_rollups(window_seconds=1800, endpoint="nope") == []
    assert store.location_rollups(window_seconds=60) == []


def test_uptime_counts_split_quorum_windows_from_one_location_windows(store: SQLStore) -> None:
    # Windows one location probed count probes; those several did count the quorum's slots;
    # each location's outcomes are summed beside them (what the profile's uptime reads).
    rollups = [
        make_rollup(endpoint="a", model="m1", outcomes={"success": 3, "timeout": 1}),
        make_rollup(
            endpoint="a",
            model="m1",
            window_start=WINDOW + HALF_HOUR,
            outcomes={"success": 50, "server_error": 10},
            locations=2,
            slots_up=29,
            slots_down=1,
        ),
        make_rollup(
            endpoint="a",
            model="m1",
            window_start=WINDOW + 2 * HALF_HOUR,
            outcomes={"success": 60},
            locations=2,
            slots_up=30,
            slots_down=0,
        ),
        make_rollup(endpoint="b", model="m2", outcomes={"success": 1}),
    ]
    located = [
        make_rollup(endpoint="a", model="m1", location="x", outcomes={"success": 3, "timeout": 1}),
        *(
            make_rollup(
                endpoint="a", model="m1", window_start=WINDOW + n * HALF_HOUR, location=loc,
                outcomes=outcomes,
            )
            for n, loc, outcomes in (
                (1, "x", {"success": 30}),
                (1, "y", {"success": 20, "server_error": 10}),
                (2, "x", {"success": 30}),
                (2, "y", {"success": 30}),
            )
        ),
    ]  # fmt: skip
    store.upsert_rollups(rollups + located)

    counts = store.uptime_counts(window_seconds=1800)
    assert set(counts) == {"m1", "m2"}
    m1 = counts["m1"]
    assert m1.outcomes == {"a": {"success": 3, "timeout": 1}}
    assert m1.slots == {"a": (59, 1)}
    assert m1.by_location == {
        ("a", "x"): {"success": 63, "timeout": 1},
        ("a", "y"): {"server_error": 10, "success": 50},
    }
    assert counts["m2"].outcomes == {"b": {"success": 1}} and counts["m2"].slots == {}
    later = store.uptime_counts(window_seconds=1800, since=WINDOW + HALF_HOUR, model="m1")
    assert later["m1"].outcomes == {} and later["m1"].slots == {"a": (59, 1)}
    assert later["m1"].by_location[("a", "x")] == {"success": 60}
    assert store.uptime_counts(window_seconds=60) == {}


def test_a_window_of_more_rollups_than_one_write_slice_is_stored_whole_and_last_wins(
    store: SQLStore,
) -> None:
    # More than two slices of each table, and a key written twice: once in the first slice's
    # range and once after the last, so the later rollup must replace the earlier one.
    count = 2 * WRITE_SLICE + 7
    across = [make_rollup(endpoint=f"e{i:05d}", probes=i + 1) for i in range(count)]
    located = [make_rollup(endpoint=f"e{i:05d}", location="lab", probes=1) for i in range(count)]
    again = replace(across[3], probes=999, uptime_ratio=0.5)

    store.upsert_rollups([*across, *located, again])

    stored = store.rollups(window_seconds=1800)
    assert len(stored) == count
    assert stored == sorted([again if r is across[3] else r for r in across], key=_endpoint)
    assert store.location_rollups(window_seconds=1800) == sorted(located, key=_endpoint)


def _endpoint(rollup: EndpointRollup) -> str:
    return rollup.endpoint


def _stored_as(database: Engine, table_name: str) -> list[tuple[Any, ...]]:
    """A table's rows exactly as the database driver returns them (no SQLAlchemy types)."""
    with database.connect() as connection:
        result = connection.exec_driver_sql(f"SELECT * FROM {table_name} ORDER BY 1, 2, 3")
        return [tuple(row) for row in result]


def test_the_rollup_write_stores_what_sqlalchemy_core_would(
    store: SQLStore, database: Engine
) -> None:
    # The window job's upsert hands values to the driver itself (monitor.store.bulk): what
    # lands in each column must be exactly what a plain SQLAlchemy insert of the same rows
    # stores (timestamps as microseconds on SQLite, the outcomes' JSON text, NULLs).
    across = [
        make_rollup(locations=3, slots_up=58, slots_down=2, uptime_ratio=58 / 60),
        make_rollup(
            endpoint="bare",
            region=None,
            uptime_ratio=None,
            ttft=Distribution(),
            outcomes={"auth_error": 2},
            probes=2,
            successes=0,
        ),
    ]
    located = [make_rollup(location=loc, probes=10, region=None) for loc in ("b", "a")]
    store.upsert_rollups([*across, *located])
    written = {name: _stored_as(database, name) for name in ("rollups", "location_rollups")}
    assert [len(rows) for rows in written.values()] == [2, 2]

    with database.begin() as connection:
        connection.exec_driver_sql("DELETE FROM rollups")
        connection.exec_driver_sql("DELETE FROM location_rollups")
        connection.execute(insert(rollups_table), [rollup_to_row(r) for r in across])
        connection.execute(insert(location_rollups_table), [rollup_to_row(r) for r in located])
    assert written == {name: _stored_as(database, name) for name in written}


def test_a_rollup_with_a_naive_time_is_refused_and_nothing_is_lost(store: SQLStore) -> None:
    kept = make_rollup()
    store.upsert_rollups([kept])
    naive = make_rollup(endpoint="other", computed_at=WINDOW.replace(tzinfo=None))

    with pytest.raises(ValueError, match="naive datetime"):
        store.upsert_rollups([make_rollup(probes=99), naive])

    assert store.rollups(window_seconds=1800) == [kept]
