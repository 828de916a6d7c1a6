"""Agents and leases in the store: heartbeats, and the rollup lease that one agent at a time
holds, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from monitor.core.agent import AgentRecord
from monitor.store import SQLStore, open_store

from .test_concurrency import THREADS, _run_together

T = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _record(agent: str, location: str = "a", **changes: object) -> AgentRecord:
    base = AgentRecord(
        agent=agent,
        location=location,
        host="host-1",
        pid=123,
        version="0.1.0",
        config_hash="abc",
        started_at=T,
        last_seen=T,
        clock_offset_seconds=0.25,
        endpoints=3,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_heartbeat_writes_the_agent_with_the_stores_clock(store: SQLStore) -> None:
    before = store.db_now()
    seen = store.heartbeat(_record("b1", "b"))
    store.heartbeat(_record("a1", "a"))
    again = store.heartbeat(_record("b1", "b", endpoints=5))
    after = store.db_now()

    assert before <= seen <= again <= after
    listed = store.agents()
    assert [(r.agent, r.location) for r in listed] == [("a1", "a"), ("b1", "b")]
    b1 = listed[1]
    # One row per agent, rewritten by each heartbeat; last_seen is the store's, not the record's.
    assert b1 == _record("b1", "b", endpoints=5, last_seen=again)


def test_one_agent_at_a_time_holds_a_lease_until_it_expires(store: SQLStore) -> None:
    assert store.lease("rollup") is None
    a, now = store.acquire_lease("rollup", "a1", 30)
    assert a.held_by("a1", now) and a.epoch == 1 and a.acquired_at == now
    b, now = store.acquire_lease("rollup", "b1", 30)
    assert b.holder == "a1" and not b.held_by("b1", now)
    # Renewed by its holder: same epoch, later expiry.
    renewed, now = store.acquire_lease("rollup", "a1", 60)
    assert (renewed.holder, renewed.epoch, renewed.acquired_at) == ("a1", 1, a.acquired_at)
    assert renewed.expires_at is not None and a.expires_at is not None
    assert renewed.expires_at > a.expires_at

    # Expired: another agent takes it, and the epoch grows.
    store.acquire_lease("rollup", "a1", 0.2)
    time.sleep(0.5)
    taken, now = store.acquire_lease("rollup", "b1", 30)
    assert taken.held_by("b1", now) and taken.epoch == 2
    late, _ = store.acquire_lease("rollup", "a1", 30)
    assert late.holder == "b1"

    # Released: free at once.
    store.release_lease("rollup", "a1")  # not a1's: nothing happens
    assert store.acquire_lease("rollup", "a1", 30)[0].holder == "b1"
    store.release_lease("rollup", "b1")
    again, now = store.acquire_lease("rollup", "a1", 30)
    assert again.held_by("a1", now) and again.epoch == 3
    assert store.lease("rollup") == again


def test_of_agents_racing_for_a_free_lease_exactly_one_gets_it(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(THREADS)]
    try:
        stores[0].upgrade()
        results = _run_together(
            [
                lambda s=s, i=i: s.acquire_lease("rollup", f"agent-{i}", 30)  # type: ignore[misc]
                for i, s in enumerate(stores)
            ]
        )
    finally:
        for s in stores:
            s.close()
    holders = {lease.holder for lease, _ in results}
    winners = [i for i, (lease, now) in enumerate(results) if lease.held_by(f"agent-{i}", now)]
    assert len(holders) == 1 and len(winners) == 1
    assert {lease.epoch for lease, _ in results} == {1}


def test_the_stores_clock_moves_with_real_time(store: SQLStore) -> None:
    first = store.db_now()
    time.sleep(0.2)
    second = store.db_now()
    assert timedelta(seconds=0.1) < second - first < timedelta(seconds=30)


def test_marked_windows_are_listed_until_cleared_unless_marked_again(store: SQLStore) -> None:
    w = [T + timedelta(minutes=30 * i) for i in range(3)]
    store.mark_windows(1800, [w[0], w[1], w[1]])
    store.mark_windows(60, [w[2]])  # another window size: kept apart
    seen = store.dirty_windows(1800)
    assert sorted(seen) == [w[0], w[1]]
    assert list(store.dirty_windows(1800, until=w[1])) == [w[0]]

    time.sleep(0.01)
    store.mark_windows(1800, [w[1]])  # marked again after it was read: it must stay
    store.clear_dirty_windows(1800, seen)
    assert list(store.dirty_windows(1800)) == [w[1]]
    assert list(store.dirty_windows(60)) == [w[2]]
