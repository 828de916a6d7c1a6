"""Incidents: when an endpoint went down and came back, with what it looked like.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

Hand-written and frozen, like the others: its own column types, nothing imported from the
schema module.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Aware UTC timestamps, as in 0001: TIMESTAMP WITH TIME ZONE, or microseconds on SQLite.
_TIMESTAMP = sa.DateTime(timezone=True).with_variant(sa.BigInteger(), "sqlite")
revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``incidents`` and its indexes."""
    op.create_table(
        "incidents",
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("ended_at", _TIMESTAMP),
        sa.Column("checked_at", _TIMESTAMP, nullable=False),
        sa.Column("last_down_at", _TIMESTAMP, nullable=False),
        sa.Column("down_slots", sa.BigInteger(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("first_error", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("endpoint", "started_at", name="pk_incidents"),
    )
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"])
    op.create_index("ix_incidents_ended_at", "incidents", ["ended_at"])


def downgrade() -> None:
    """Drop ``incidents`` (and what it held)."""
    op.drop_table("incidents")
