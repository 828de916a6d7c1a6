"""Migrations: upgrade to head, idempotence, refusal of newer schemas, schema == tables."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from monitor.core.agent import AgentIdentity
from monitor.core.errors import StoreError
from monitor.core.result import ProbeResult
from monitor.store import SQLStore, migrate, open_store
from monitor.store.migrate import alembic_config
from monitor.store.rows import probe_to_row
from monitor.store.schema import metadata, probes

from .factories import make_probe

TABLES = [
    "agents",
    "alembic_version",
    "dirty_windows",
    "incidents",
    "leases",
    "location_rollups",
    "model_profiles",
    "probes",
    "rollups",
]


def _stamp(database: Engine, revision: str) -> None:
    with database.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS alembic_version "
                "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
            )
        )
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})


def test_upgrade_brings_an_empty_database_to_head(new_store: SQLStore, database: Engine) -> None:
    assert new_store.current_revision() is None

    new_store.upgrade()

    assert new_store.current_revision() == new_store.head_revision()
    assert sorted(inspect(database).get_table_names()) == TABLES


def test_upgrading_twice_changes_nothing(store: SQLStore) -> None:
    probe = make_probe()
    store.add_probes([probe])

    store.upgrade()

    assert store.current_revision() == store.head_revision()
    assert store.probes() == [probe]


def test_migrated_schema_matches_the_table_definitions(store: SQLStore, database: Engine) -> None:
    with database.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)

    assert differences == []


def test_database_stamped_with_a_newer_revision_is_refused_and_not_migrated(
    new_store: SQLStore, database: Engine
) -> None:
    _stamp(database, "9999_future")
    expected = (
        f"database schema is at revision 9999_future, newer than this llm-monitor "
        f"(head {new_store.head_revision()}); upgrade llm-monitor"
    )

    with pytest.raises(StoreError, match=re.escape(expected)):
        new_store.upgrade()

    assert inspect(database).get_table_names() == ["alembic_version"]
    assert new_store.current_revision() == "9999_future"


def test_newer_schema_keeps_its_data_and_revision_when_refused(
    store: SQLStore, database: Engine
) -> None:
    probe = make_probe()
    store.add_probes([probe])
    _stamp(database, "9999_future")

    with pytest.raises(StoreError, match="newer than this llm-monitor"):
        store.upgrade()

    assert store.current_revision() == "9999_future"
    assert sorted(inspect(database).get_table_names()) == TABLES
    assert store.probes() == [probe]


def test_migrations_run_from_any_working_directory(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    store = open_store(store_url)
    try:
        store.upgrade()
        assert store.current_revision() == store.head_revision()
    finally:
        store.close()


def test_migrations_downgrade_to_an_empty_database_and_up_again(
    store: SQLStore, database: Engine
) -> None:
    with database.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert inspect(database).get_table_names() == ["alembic_version"]
    assert store.current_revision() is None

    store.upgrade()

    assert store.current_revision() == store.head_revision()


def test_probes_stored_before_durations_were_measured_read_back_without_one(
    new_store: SQLStore, database: Engine
) -> None:
    with database.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    old = make_probe(duration_seconds=None, answer_ttft_seconds=None)
    # Written as 0001 left the table: every column but the later ones.
    row = _row_before(old, "0002")
    with database.begin() as connection:
        connection.execute(probes.insert(), [row])

    new_store.upgrade()
    new_store.add_probes([make_probe(probe_id="after-0002", duration_seconds=2.5)])

    by_id = {p.probe_id: p for p in new_store.probes()}
    assert replace(by_id[old.probe_id], agent=None, location=None) == old
    assert by_id[old.probe_id].duration_seconds is None
    assert by_id["after-0002"].duration_seconds == 2.5


def test_probes_stored_before_agents_existed_get_the_defaults_of_an_agent(
    new_store: SQLStore, database: Engine
) -> None:
    with database.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
    old = make_probe(answer_ttft_seconds=None)
    row = _row_before(old, "0003")
    with database.begin() as connection:
        connection.execute(probes.insert(), [row])

    new_store.upgrade()
    mine = make_probe(probe_id="after-0003", agent="fra-1", location="frankfurt")
    new_store.add_probes([mine])

    by_id = {p.probe_id: p for p in new_store.probes()}
    # The agent that ran alone before: this host, location "local" (what an unconfigured
    # agent is today); nothing else of the row changed.
    assert (by_id[old.probe_id].agent, by_id[old.probe_id].location) == (
        AgentIdentity.local().name,
        "local",
    )
    assert replace(by_id[old.probe_id], agent=None, location=None) == old
    assert by_id["after-0003"] == mine


def test_head_revision_constant_is_the_head_of_the_migration_scripts() -> None:
    # Reading commands compare with the constant so that they need not load Alembic.
    assert migrate.scripts_head_revision() == migrate.HEAD_REVISION


def test_more_than_one_stamped_revision_is_an_error(new_store: SQLStore, database: Engine) -> None:
    _stamp(database, "0001")
    with database.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version VALUES ('0002_branch')"))

    with pytest.raises(StoreError, match="2 schema revisions"):
        new_store.current_revision()


def test_probes_stored_before_answer_ttft_was_measured_read_back_without_one(
    new_store: SQLStore, database: Engine
) -> None:
    with database.begin() as connection:
        command.upgrade(alembic_config(connection), "0005")
    old = make_probe(answer_ttft_seconds=None, agent="a", location="here")
    row = _row_before(old, "0006")
    with database.begin() as connection:
        connection.execute(probes.insert(), [row])

    new_store.upgrade()
    new_store.add_probes([make_probe(probe_id="after-0006", answer_ttft_seconds=1.25)])

    by_id = {p.probe_id: p for p in new_store.probes()}
    assert by_id[old.probe_id] == old  # nothing else changed; no answer TTFT: null
    assert by_id["after-0006"].answer_ttft_seconds == 1.25


def test_probes_stored_before_kinds_existed_are_of_the_default_kind(
    new_store: SQLStore, database: Engine
) -> None:
    with database.begin() as connection:
        command.upgrade(alembic_config(connection), "0008")
    old = make_probe()
    row = _row_before(old, "0009")
    with database.begin() as connection:
        connection.execute(probes.insert(), [row])

    new_store.upgrade()
    new_store.add_probes([make_probe(probe_id="long-one", kind="long", started_at=old.started_at
                                     + timedelta(seconds=1))])  # fmt: skip

    by_id = {p.probe_id: p for p in new_store.probes()}
    assert by_id[old.probe_id] == old and old.kind == "short"
    assert by_id["long-one"].kind == "long"
    # Only the default kind counts for rollups, incidents and an endpoint's last probe.
    rows = new_store.probe_rows(old.started_at, old.started_at + timedelta(minutes=1))
    assert len(rows[old.endpoint]) == 1
    assert new_store.last_probes()[old.endpoint].probe_id == old.probe_id
    judged = new_store.incident_probes(old.started_at, old.started_at + timedelta(minutes=1))
    assert [p.started_at for p in judged] == [old.started_at]


def test_probes_stored_before_stamp_sources_read_back_without_one(
    new_store: SQLStore, database: Engine
) -> None:
    with database.begin() as connection:
        command.upgrade(alembic_config(connection), "0009")
    old = make_probe()
    with database.begin() as connection:
        connection.execute(probes.insert(), [_row_before(old, "0010")])

    new_store.upgrade()
    new = make_probe(
        probe_id="stamped",
        started_at=old.started_at + timedelta(seconds=1),
        stamp_source="kernel",
        first_token_queued=True,
    )
    new_store.add_probes([new])

    by_id = {p.probe_id: p for p in new_store.probes()}
    assert by_id[old.probe_id] == old
    assert old.stamp_source is None and old.first_token_queued is None
    assert by_id["stamped"] == new


#: The probe columns each revision added, newest last.
_ADDED_BY = {
    "0002": ("duration_seconds",),
    "0003": ("agent", "location"),
    "0006": ("answer_ttft_seconds",),
    "0009": ("kind",),
    "0010": ("stamp_source", "first_token_queued"),
}


def _row_before(probe: ProbeResult, revision: str) -> dict[str, object]:
    """The ``probes`` row of ``probe`` without the columns that ``revision`` and later added."""
    later = {c for added, columns in _ADDED_BY.items() if added >= revision for c in columns}
    return {k: v for k, v in probe_to_row(probe).items() if k not in later}
