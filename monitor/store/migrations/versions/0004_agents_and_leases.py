"""Agents, leases and dirty windows: the agents that share a store, who rolls windows up, and
the windows that other agents wrote probes into since.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

``agents`` holds one row per agent name, rewritten at each of its heartbeats; ``leases`` holds
the ``rollup`` lease (its holder, epoch and expiry, by the store's clock); ``dirty_windows``
marks windows to roll up again. Hand-written and
frozen, like the others: its own column types, nothing imported from the schema module.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Aware UTC timestamps, as in 0001: TIMESTAMP WITH TIME ZONE, or microseconds on SQLite.
_TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``agents``, ``leases`` and ``dirty_windows``."""
    op.create_table(
        "agents",
        sa.Column("agent", sa.String(), nullable=False),
        sa.Column("location", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("config_hash", sa.String(), nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seen", _TIMESTAMP, nullable=False),
        sa.Column("clock_offset_seconds", sa.Double()),
        sa.Column("endpoints", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agent", name="pk_agents"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String()),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", _TIMESTAMP),
        sa.Column("expires_at", _TIMESTAMP),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    op.create_table(
        "dirty_windows",
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", _TIMESTAMP, nullable=False),
        sa.Column("marked_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("window_seconds", "window_start", name="pk_dirty_windows"),
    )


def downgrade() -> None:
    """Drop ``dirty_windows``, ``leases`` and ``agents``."""
    op.drop_table("dirty_windows")
    op.drop_table("leases")
    op.drop_table("agents")
