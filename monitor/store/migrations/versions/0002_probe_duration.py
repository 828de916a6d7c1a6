"""Probes: ``duration_seconds``, how long each probe ran, whatever its outcome.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Rows written before this revision keep NULL (their duration was not measured). Hand-written
and frozen, like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``probes.duration_seconds`` column."""
    op.add_column("probes", sa.Column("duration_seconds", sa.Double()))


def downgrade() -> None:
    """Drop ``probes.duration_seconds`` (and the durations stored in it)."""
    # Batch mode: SQLite before 3.35 cannot drop a column and gets the table copied instead.
    with op.batch_alter_table("probes") as batch:
        batch.drop_column("duration_seconds")
