"""Probes: ``stamp_source`` (kernel or loop) and ``first_token_queued``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Rows written before this revision keep NULL in both: their arrivals were stamped by the loop, but
nobody recorded it. Hand-written and frozen.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``probes.stamp_source`` and ``probes.first_token_queued`` columns."""
    op.add_column("probes", sa.Column("stamp_source", sa.String()))
    op.add_column("probes", sa.Column("first_token_queued", sa.Boolean()))


def downgrade() -> None:
    """Drop both columns (and what they held)."""
    # Batch mode: SQLite before 3.35 cannot drop a column and gets the table copied instead.
    with op.batch_alter_table("probes") as batch:
        batch.drop_column("first_token_queued")
        batch.drop_column("stamp_source")
