"""Probes: ``kind``, the probe kind (the default ``short``, or a kind's name).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

Rows written before this revision keep NULL: they are all of the default kind. Hand-written
and frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``probes.kind`` column."""
    op.add_column("probes", sa.Column("kind", sa.String()))


def downgrade() -> None:
    """Drop ``probes.kind`` (and what it held)."""
    # Batch mode: SQLite before 3.35 cannot drop a column and gets the table copied instead.
    with op.batch_alter_table("probes") as batch:
        batch.drop_column("kind")
