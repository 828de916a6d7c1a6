"""Raw probes: exact round trips, idempotent inserts, range queries and retention."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.core.rollup import ProbeRow, window_start
from monitor.store import SQLStore

from .factories import T0, WINDOW, bare_probe, make_probe

MICROSECOND = timedelta(microseconds=1)


def test_probe_round_trips_every_field_exactly(store: SQLStore) -> None:
    probe = make_probe()

    store.add_probes([probe])

    [stored] = store.probes()
    assert stored == probe
    for field in fields(probe):
        assert type(getattr(stored, field.name)) is type(getattr(probe, field.name)), field.name
    assert stored.started_at.tzinfo is UTC


def test_probe_round_trips_none_in_every_field_that_can_be_unknown(store: SQLStore) -> None:
    probe = bare_probe()
    unknown = [field.name for field in fields(probe) if getattr(probe, field.name) is None]
    assert "connection_reused" in unknown
    assert "region" in unknown

    store.add_probes([probe])

    [stored] = store.probes()
    assert stored == probe
    assert [name for name in unknown if getattr(stored, name) is not None] == []
    assert stored.tokens_estimated is False
    assert stored.content_chunks == 0


def test_zero_and_false_stay_distinct_from_none(store: SQLStore) -> None:
    probe = make_probe(
        http_status=0,
        ttft_seconds=0.0,
        output_tokens=0,
        input_tokens=0,
        cost_usd=0.0,
        connect_seconds=0.0,
        connection_reused=False,
        tokens_estimated=False,
        error="",
    )

    store.add_probes([probe])

    [stored] = store.probes()
    assert stored == probe
    for field in fields(probe):
        assert type(getattr(stored, field.name)) is type(getattr(probe, field.name)), field.name
    assert stored.output_tokens == 0
    assert stored.connection_reused is False
    assert stored.error == ""


def test_every_outcome_round_trips_as_the_enum_member(store: SQLStore) -> None:
    written = {
        outcome: bare_probe(outcome=outcome, started_at=T0 + i * MICROSECOND)
        for i, outcome in enumerate(Outcome)
    }

    store.add_probes(list(written.values()))

    read = {probe.outcome: probe for probe in store.probes()}
    assert read == written
    assert all(type(outcome) is Outcome for outcome in read)


def test_probe_started_in_another_zone_reads_back_as_the_same_instant_in_utc(
    store: SQLStore,
) -> None:
    paris = timezone(timedelta(hours=2))
    probe = make_probe(started_at=datetime(2025, 6, 1, 14, 7, 3, 999_999, tzinfo=paris))

    store.add_probes([probe])

    [stored] = store.probes()
    assert stored.started_at == datetime(2025, 6, 1, 12, 7, 3, 999_999, tzinfo=UTC)
    assert stored.started_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store: SQLStore) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        store.add_probes([make_probe(started_at=datetime(2025, 6, 1, 12, 0))])
    with pytest.raises(ValueError, match="naive datetime"):
        store.probes(since=datetime(2025, 6, 1, 12, 0))
    assert store.probes() == []


def test_duplicate_probe_ids_are_ignored_and_not_counted(store: SQLStore) -> None:
    first = make_probe(endpoint="first")
    second = make_probe()

    assert store.add_probes([first, second]) == 2
    again = make_probe(probe_id=first.probe_id, endpoint="rewritten")
    assert store.add_probes([again, second, make_probe(probe_id="new")]) == 1

    assert {probe.probe_id: probe for probe in store.probes()} == {
        first.probe_id: first,
        second.probe_id: second,
        "new": make_probe(probe_id="new"),
    }


def test_duplicates_inside_one_batch_count_once(store: SQLStore) -> None:
    probe = make_probe()

    assert store.add_probes([probe, probe, probe]) == 1
    assert store.probes() == [probe]


def test_adding_no_probes_stores_nothing(store: SQLStore) -> None:
    assert store.add_probes([]) == 0
    assert store.probes() == []


def test_probes_filter_by_endpoint_and_model(store: SQLStore) -> None:
    a = make_probe(endpoint="a", model="m1")
    b = make_probe(endpoint="b", model="m1")
    c = make_probe(endpoint="a", model="m2")
    store.add_probes([a, b, c])

    assert set(store.probes(endpoint="a")) == {a, c}
    assert set(store.probes(model="m1")) == {a, b}
    assert store.probes(endpoint="a", model="m1") == [a]
    assert store.probes(endpoint="nobody") == []


def test_probe_range_includes_since_and_excludes_until(store: SQLStore) -> None:
    since, until = T0, T0 + timedelta(minutes=1)
    before = make_probe(started_at=since - MICROSECOND)
    at_since = make_probe(started_at=since)
    last_inside = make_probe(started_at=until - MICROSECOND)
    at_until = make_probe(started_at=until)
    store.add_probes([before, at_since, last_inside, at_until])

    assert store.probes(since=since, until=until, newest_first=False) == [at_since, last_inside]
    assert store.probes(since=since, newest_first=False) == [at_since, last_inside, at_until]
    assert store.probes(until=until, newest_first=False) == [before, at_since, last_inside]


def test_probes_come_newest_first_unless_asked_and_honour_limit(store: SQLStore) -> None:
    probes = [make_probe(started_at=T0 + i * timedelta(seconds=1)) for i in range(5)]
    store.add_probes([probes[3], probes[0], probes[4], probes[1], probes[2]])

    assert store.probes() == probes[::-1]
    assert store.probes(newest_first=False) == probes
    assert store.probes(limit=2) == [probes[4], probes[3]]
    assert store.probes(limit=2, newest_first=False) == probes[:2]


def test_last_probes_gives_the_newest_probe_of_each_endpoint(store: SQLStore) -> None:
    old_a = make_probe(endpoint="a", started_at=T0)
    new_a = make_probe(endpoint="a", started_at=T0 + timedelta(minutes=5), outcome=Outcome.TIMEOUT)
    only_b = bare_probe(endpoint="b", started_at=T0 - timedelta(days=3))
    old_c = make_probe(endpoint="c", started_at=T0 + timedelta(seconds=1))
    new_c = make_probe(endpoint="c", started_at=T0 + timedelta(seconds=1) + MICROSECOND)
    store.add_probes([new_a, old_c, only_b, new_c, old_a])

    assert store.last_probes() == {"a": new_a, "b": only_b, "c": new_c}


def test_last_probes_of_an_empty_store_is_empty(store: SQLStore) -> None:
    assert store.last_probes() == {}


def test_last_probe_times_are_the_starts_of_the_last_probes(store: SQLStore) -> None:
    old_a = make_probe(endpoint="a", started_at=T0)
    new_a = make_probe(endpoint="a", started_at=T0 + timedelta(minutes=5), outcome=Outcome.TIMEOUT)
    only_b = bare_probe(endpoint="b", started_at=T0 - timedelta(days=3))
    old_c = make_probe(endpoint="c", started_at=T0 + timedelta(seconds=1))
    new_c = make_probe(endpoint="c", started_at=T0 + timedelta(seconds=1) + MICROSECOND)
    many = [make_probe(endpoint=f"e{i:03d}", started_at=T0 + i * MICROSECOND) for i in range(50)]
    store.add_probes([new_a, old_c, only_b, new_c, old_a, *many])

    times = store.last_probe_times()

    assert times == {k: v.started_at for k, v in store.last_probes().items()}
    assert times["a"] == new_a.started_at
    assert times["c"] == new_c.started_at
    assert all(t.tzinfo is UTC for t in times.values())


def test_last_probe_times_of_an_empty_store_are_empty(store: SQLStore) -> None:
    assert store.last_probe_times() == {}


def test_probe_rows_give_the_rollup_columns_by_endpoint_within_the_range(
    store: SQLStore,
) -> None:
    since, until = WINDOW, WINDOW + timedelta(minutes=30)
    a1 = make_probe(endpoint="a", started_at=since)
    a2 = bare_probe(endpoint="a", started_at=since + timedelta(minutes=1), outcome=Outcome.TIMEOUT)
    b1 = make_probe(endpoint="b", started_at=until - MICROSECOND, cost_usd=None)
    outside = [
        make_probe(endpoint="a", started_at=since - MICROSECOND),
        make_probe(endpoint="c", started_at=until),
    ]
    store.add_probes([b1, a2, *outside, a1])

    rows = store.probe_rows(since, until)

    assert rows == {
        "a": [_row_of(a1, since), _row_of(a2, since)],
        "b": [_row_of(b1, since)],
    }
    assert rows["a"][1].outcome is Outcome.TIMEOUT
    assert rows["a"][1].ttft_seconds is None
    # Each start as seconds after since, to the microsecond (the quorum's slots).
    assert [r.offset_seconds for r in rows["a"]] == [0.0, 60.0]
    assert rows["b"][0].offset_seconds == pytest.approx(1800 - 1e-6, abs=1e-9)


def _row_of(probe: ProbeResult, since: datetime) -> ProbeRow:
    columns = set(ProbeRow._fields) - {"offset_seconds"}
    return ProbeRow(
        **{name: getattr(probe, name) for name in columns},
        offset_seconds=(probe.started_at - since).total_seconds(),
    )


def test_probe_windows_are_the_aligned_windows_holding_probes(store: SQLStore) -> None:
    half_hour = timedelta(minutes=30)
    store.add_probes(
        [
            make_probe(started_at=WINDOW - MICROSECOND),  # before the range
            make_probe(started_at=WINDOW + timedelta(minutes=10)),
            make_probe(started_at=WINDOW + timedelta(minutes=29, seconds=59)),
            # WINDOW + 30 min: no probe.
            make_probe(started_at=WINDOW + 2 * half_hour),  # first instant of a window
            make_probe(started_at=WINDOW + 3 * half_hour),  # at `until`: outside
        ]
    )

    windows = store.probe_windows(WINDOW, WINDOW + 3 * half_hour, 1800)

    assert windows == {WINDOW, WINDOW + 2 * half_hour}
    assert all(start.tzinfo is UTC for start in windows)


def test_probe_windows_start_before_since_when_since_is_not_aligned(store: SQLStore) -> None:
    store.add_probes([make_probe(started_at=WINDOW + timedelta(minutes=20))])

    assert store.probe_windows(
        WINDOW + timedelta(minutes=15), WINDOW + timedelta(hours=1), 1800
    ) == {WINDOW}


@pytest.mark.parametrize("window_seconds", [5, 60, 1800, 3600, 86_400])
def test_probe_windows_agree_with_window_start(store: SQLStore, window_seconds: int) -> None:
    moments = [
        WINDOW - MICROSECOND,
        WINDOW,
        T0,
        T0 + timedelta(hours=13, seconds=4, microseconds=999_999),
        datetime(1969, 12, 31, 23, 59, 58, 500_000, tzinfo=UTC),
    ]
    store.add_probes([make_probe(started_at=moment) for moment in moments])

    windows = store.probe_windows(
        datetime(1960, 1, 1, tzinfo=UTC), T0 + timedelta(days=2), window_seconds
    )

    assert windows == {window_start(moment, window_seconds) for moment in moments}


def test_probe_windows_of_a_range_without_probes_are_empty(store: SQLStore) -> None:
    store.add_probes([make_probe(started_at=WINDOW - MICROSECOND)])

    assert store.probe_windows(WINDOW, WINDOW + timedelta(days=1), 1800) == set()


def test_probe_windows_refuse_a_non_positive_window(store: SQLStore) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        store.probe_windows(WINDOW, T0, 0)


def test_retention_deletes_only_probes_started_before_the_cutoff(store: SQLStore) -> None:
    cutoff = T0
    old = [make_probe(started_at=cutoff - (i + 1) * MICROSECOND) for i in range(10)]
    kept = [make_probe(started_at=cutoff + i * timedelta(seconds=1)) for i in range(5)]
    store.add_probes(old + kept)

    assert store.delete_probes_before(cutoff, batch_size=3) == 10

    assert store.probes(newest_first=False) == kept
    assert store.delete_probes_before(cutoff) == 0


def test_retention_in_one_exact_batch_deletes_everything_old(store: SQLStore) -> None:
    store.add_probes([make_probe(started_at=T0 - timedelta(days=i + 1)) for i in range(4)])

    assert store.delete_probes_before(T0, batch_size=4) == 4
    assert store.probes() == []


def test_spend_since_sums_the_cost_of_every_agents_probes_from_then_on(store: SQLStore) -> None:
    at = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    store.add_probes(
        [
            make_probe(started_at=at - timedelta(seconds=1), cost_usd=100.0),  # before: out
            make_probe(started_at=at, cost_usd=0.25, agent="a"),
            make_probe(started_at=at + timedelta(hours=3), cost_usd=0.5, agent="b"),
            make_probe(started_at=at + timedelta(hours=4), cost_usd=None),  # unknown: adds 0
        ]
    )
    assert store.spend_since(at) == pytest.approx(0.75)
    assert store.spend_since(at + timedelta(hours=5)) == 0.0
    assert store.spend_since(at, at + timedelta(hours=3)) == pytest.approx(0.25)
