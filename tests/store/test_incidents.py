"""Incidents judged from stored probes (docs/design.md#incidents), on SQLite and PostgreSQL:
the job reads real probe rows, writes real incident rows, and a second job on the same store
(a restart, or another agent taking the lease over) carries on the same incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from monitor.config import Config, parse_config
from monitor.core.incidents import Incident
from monitor.core.outcomes import Outcome
from monitor.service.incidents import IncidentJob
from monitor.store import SQLStore
from tests.store.factories import make_probe

#: A minute boundary: slot n of endpoint "a" (interval 10 s) starts at T0 + 10n s.
T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
SETTLE = 5.0


def _config(**incidents: int) -> Config:
    raw = {
        "probe": {"interval": "10s", "timeout": "3s"},
        "incidents": incidents,
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {"id": "a", "model": "gpt-4.1-nano", "provider": "openai",
             "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"},
            {"id": "b", "model": "gpt-4.1-nano", "provider": "openai",
             "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"},
        ],
    }  # fmt: skip
    return parse_config(yaml.safe_dump(raw), environ={"K": "sk-x"})


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _probe(slot: int, outcome: Outcome, endpoint: str = "a", location: str = "here") -> object:
    return make_probe(
        endpoint=endpoint,
        provider="openai",
        outcome=outcome,
        started_at=T0 + timedelta(seconds=10 * slot + 0.25),
        error=None if outcome is Outcome.SUCCESS else f"HTTP 500: down in slot {slot}",
        location=location,
    )


def _store_slots(store: SQLStore, pattern: str, endpoint: str = "a", first: int = 0) -> None:
    """One probe per slot from ``pattern``: ``.`` success, ``x`` server error, ``a`` auth
    error (excluded from uptime), `` `` no probe."""
    kinds = {".": Outcome.SUCCESS, "x": Outcome.SERVER_ERROR, "a": Outcome.AUTH_ERROR}
    store.add_probes(
        [
            _probe(first + i, kinds[c], endpoint)  # type: ignore[misc]
            for i, c in enumerate(pattern)
            if c != " "
        ]
    )


def _job(store: SQLStore, clock: Clock, config: Config | None = None) -> IncidentJob:
    return IncidentJob(config or _config(), store, SETTLE, clock)


def _at_slot(clock: Clock, slot: int) -> None:
    """Move the clock so that slots before ``slot`` are complete and settled."""
    clock.now = T0 + timedelta(seconds=10 * slot + SETTLE)


def _run_through(job: IncidentJob, clock: Clock, slots: int) -> None:
    """Run the job once per slot, as the daemon does, until ``slots`` slots are judged."""
    for slot in range(slots + 1):
        _at_slot(clock, slot)
        job.run()


def test_an_outage_gives_one_incident_with_its_start_and_length(store: SQLStore) -> None:
    # Down from slot 3 to slot 8 (6 slots, 60 s), up again from slot 9.
    _store_slots(store, "...xxxxxx....")
    clock = Clock()
    job = _job(store, clock)
    _at_slot(clock, 0)
    assert job.run() == []
    _at_slot(clock, 5)  # two down slots: not yet
    job.run()
    assert store.incidents() == []
    _at_slot(clock, 6)  # the third opens it, from the first failed probe
    job.run()
    (opened,) = store.incidents(open_only=True)
    assert opened.started_at == T0 + timedelta(seconds=30.25)
    assert opened.ended_at is None and opened.open
    assert opened.down_slots == 3
    assert opened.first_error == "HTTP 500: down in slot 3"
    _at_slot(clock, 10)  # one up slot: still open
    job.run()
    assert store.incidents(open_only=True)
    _at_slot(clock, 11)  # the second closes it where the first success started
    job.run()
    (closed,) = store.incidents()
    assert closed.ended_at == T0 + timedelta(seconds=90.25)
    assert closed.duration_seconds == pytest.approx(60.0)
    assert closed.down_slots == 6
    assert closed.outcomes == {"server_error": 6}
    assert closed.last_error == "HTTP 500: down in slot 8"
    assert closed.id == "a@2026-12-05T09:00:30.250000Z"
    assert job.open_flags() == (("a", "openai", "gpt-4.1-nano", False),
                                ("b", "openai", "gpt-4.1-nano", False))  # fmt: skip


def test_blips_open_nothing(store: SQLStore) -> None:
    # A single failure, then two failures apart, then excluded outcomes and a gap inside a run
    # (neither breaks nor extends it): never three down slots in a row.
    _store_slots(store, "..x...xx.x.xaax..xx . ")
    clock = Clock()
    _run_through(_job(store, clock), clock, 30)
    assert store.incidents() == []


def test_slots_without_a_vote_do_not_break_a_run(store: SQLStore) -> None:
    _store_slots(store, "..x a  x x..")
    clock = Clock()
    _run_through(_job(store, clock), clock, 20)
    (incident,) = store.incidents()
    assert incident.started_at == T0 + timedelta(seconds=20.25)
    assert incident.ended_at == T0 + timedelta(seconds=100.25)
    assert incident.down_slots == 3


def test_open_and_close_after_are_settings(store: SQLStore) -> None:
    _store_slots(store, "..x.x..")
    clock = Clock()
    _run_through(_job(store, clock, _config(open_after=1, close_after=1)), clock, 20)
    incidents = store.incidents()
    assert [i.started_at for i in incidents] == [
        T0 + timedelta(seconds=40.25),
        T0 + timedelta(seconds=20.25),
    ]
    assert all(i.duration_seconds == pytest.approx(10.0) for i in incidents)


def test_a_restart_mid_incident_carries_the_same_incident_on(store: SQLStore) -> None:
    _store_slots(store, "..xxxxx")
    clock = Clock()
    _run_through(_job(store, clock), clock, 6)
    (before,) = store.incidents()
    assert before.open
    # The agent dies; probes go on being written (by another agent, or after its restart);
    # a new job judges from the store alone.
    _store_slots(store, "xx...", first=7)
    _at_slot(clock, 12)
    again = _job(store, clock)
    again.run()
    (after,) = store.incidents()
    assert after.started_at == before.started_at
    assert after.ended_at == T0 + timedelta(seconds=90.25)
    assert after.down_slots == 7
    # And judging the same again changes nothing.
    _job(store, clock).run()
    assert store.incidents() == [after]


def test_an_open_incident_the_probes_no_longer_show_is_closed(store: SQLStore) -> None:
    stale = Incident(
        endpoint="b", model="gpt-4.1-nano", provider="openai",
        started_at=T0, ended_at=None, checked_at=T0 + timedelta(seconds=30),
        last_down_at=T0 + timedelta(seconds=20), down_slots=3,
        outcomes={"timeout": 3}, first_error="timed out", last_error="timed out",
    )  # fmt: skip
    store.upsert_incidents([stale])
    _store_slots(store, "....", endpoint="b", first=5)
    clock = Clock()
    _at_slot(clock, 10)
    _job(store, clock).run()
    (closed,) = store.incidents(endpoint="b")
    assert closed.ended_at == T0 + timedelta(seconds=30)
    assert not closed.open


def test_quorum_slots_with_several_locations(store: SQLStore) -> None:
    # Location "far" fails alone for 5 slots: no incident (one of two is not a majority).
    # Then both fail for 3 slots: one incident.
    rows = []
    for slot in range(12):
        near_ok = slot < 6 or slot > 8
        far_ok = slot not in range(1, 9)
        rows.append(_probe(slot, Outcome.SUCCESS if near_ok else Outcome.TIMEOUT, location="near"))
        rows.append(_probe(slot, Outcome.SUCCESS if far_ok else Outcome.TIMEOUT, location="far"))
    store.add_probes(rows)  # type: ignore[arg-type]
    clock = Clock()
    _at_slot(clock, 12)
    _job(store, clock).run()
    (incident,) = store.incidents()
    assert incident.started_at == T0 + timedelta(seconds=60.25)
    assert incident.down_slots == 3
    assert incident.outcomes == {"timeout": 6}  # both locations' failures in those slots


def test_incidents_are_filtered_by_endpoint_model_span_and_state(store: SQLStore) -> None:
    def incident(endpoint: str, start: int, end: int | None, model: str = "m") -> Incident:
        return Incident(
            endpoint=endpoint, model=model, provider="openai",
            started_at=T0 + timedelta(seconds=start),
            ended_at=None if end is None else T0 + timedelta(seconds=end),
            checked_at=T0 + timedelta(seconds=end or 500), last_down_at=T0,
            down_slots=3, outcomes={"timeout": 3}, first_error=None, last_error=None,
        )  # fmt: skip

    early, late, running = (
        incident("a", 0, 100),
        incident("b", 200, 300, "n"),
        incident("a", 400, None),
    )
    store.upsert_incidents([early, late, running])
    assert store.incidents() == [running, late, early]
    assert store.incidents(endpoint="a") == [running, early]
    assert store.incidents(model="n") == [late]
    assert store.incidents(open_only=True) == [running]
    assert store.incidents(open_only=False) == [late, early]
    # Overlapping [150, 250): only the one from 200 to 300; [100, 201): it too, not the first
    # (ended at 100, the span's start).
    assert store.incidents(since=T0 + timedelta(seconds=150),
                           until=T0 + timedelta(seconds=250)) == [late]  # fmt: skip
    assert store.incidents(since=T0 + timedelta(seconds=100),
                           until=T0 + timedelta(seconds=201)) == [late]  # fmt: skip
    assert store.incidents(limit=1) == [running]
    # Upserting again replaces, never duplicates.
    store.upsert_incidents([incident("a", 400, 450)])
    assert len(store.incidents()) == 3
    assert store.incidents(open_only=True) == []


def test_endpoints_of_different_intervals_are_judged_on_their_own_slots(store: SQLStore) -> None:
    raw = {
        "probe": {"interval": "10s", "timeout": "3s"},
        "models": [{"id": "gpt-4.1-nano"}],
        "endpoints": [
            {"id": "a", "model": "gpt-4.1-nano", "provider": "openai",
             "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"},
            {"id": "b", "model": "gpt-4.1-nano", "provider": "openai", "interval": "60s",
             "base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"},
        ],
    }  # fmt: skip
    config = parse_config(yaml.safe_dump(raw), environ={"K": "sk-x"})
    # a: fine every 10 s; b: one probe a minute, down in minutes 2, 3 and 4.
    _store_slots(store, "." * 60)
    store.add_probes(
        [
            make_probe(endpoint="b", provider="openai", location="here",
                       started_at=T0 + timedelta(minutes=m, seconds=5),
                       outcome=Outcome.TIMEOUT if m in (2, 3, 4) else Outcome.SUCCESS)
            for m in range(8)
        ]
    )  # fmt: skip
    clock = Clock()
    job = _job(store, clock, config)
    for slot in range(61):  # every 10 s, as the daemon runs it
        _at_slot(clock, slot)
        job.run()
    (incident,) = store.incidents()
    assert incident.endpoint == "b"
    assert incident.started_at == T0 + timedelta(minutes=2, seconds=5)
    assert incident.ended_at == T0 + timedelta(minutes=5, seconds=5)
    assert incident.down_slots == 3
